"""The Attention page in Debian's chromium: a 4k-token problem with exact, HyperAttention
and LevAttention, heatmaps of the entries each computes, sweep plots growing live, and the
MiniLM per-layer view."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from tb_testing import open_page

pytestmark = pytest.mark.ui


def status(page: Page):
    return page.locator(".tb-run-status[data-label='attention']")


def test_attention_4k_problem_heatmaps_sweeps_and_minilm(page: Page, server: str, screenshots):
    page.set_viewport_size({"width": 1440, "height": 1600})
    open_page(page, server, "Attention")
    expect(page.locator("svg.tb-attention-setup")).to_be_visible(timeout=30_000)
    expect(page.locator("svg.tb-attention-setup")).to_contain_text("4096")

    # the sweep over n sets the lengths: the n box says so and is not used
    n_box = page.get_by_label("sequence length n (swept: 512 to 4096)")
    expect(n_box).to_be_disabled()
    # a repeated length is refused with the reason before anything runs
    values = page.get_by_label("values", exact=True)
    values.fill("512, 512")
    values.press("Enter")
    expect(page.locator(".alert-danger").first).to_contain_text("512 appears twice", timeout=10_000)
    values.fill("512, 1024, 2048, 4096")
    values.press("Enter")

    # the default: 4096 tokens, exact vs HyperAttention vs LevAttention over a sweep of n
    page.get_by_role("button", name="Run", exact=True).click()
    expect(status(page)).to_contain_text("measured", timeout=120_000)
    first = status(page).inner_text()
    expect(status(page)).not_to_have_text(first, timeout=120_000)  # rows stream in
    expect(page.locator(".bk-Canvas, canvas").first).to_be_visible(timeout=60_000)
    expect(status(page)).to_contain_text("ok", timeout=600_000)
    table = page.locator("table.tb-table")
    for label in ("exact", "hyper", "lev"):
        expect(table.locator(f"tr[data-label^='{label}']").first).to_be_visible()
    expect(table).to_contain_text("4096")
    # every measurement (3 methods x 4 sizes) and the four heatmaps (the exact weights
    # and what each method computed) before the screenshot: taken at "ok" alone, it once
    # showed 11 rows and no heatmaps, the rest still on its way to the page
    expect(table.locator("tr[data-label]")).to_have_count(12, timeout=60_000)
    caption = page.locator(".tb-heat-caption")
    expect(caption).to_contain_text("n = 4096", timeout=60_000)
    for label in ("exact", "hyper", "lev"):
        expect(caption).to_contain_text(label)
    page.screenshot(path=str(screenshots / "attention-4k.png"), full_page=True)

    # MiniLM: real Q/K/V, the error of each method layer by layer
    # MiniLM reads at most 512 tokens: choosing it brings n and the sweep within them
    page.get_by_label("input", exact=True).select_option("minilm")
    expect(page.locator("svg.tb-attention-setup")).to_contain_text("512 x 512", timeout=10_000)
    page.get_by_label("sweep parameter").select_option(label="(no sweep)")
    n = page.get_by_label("sequence length n", exact=True)
    expect(n).to_be_enabled(timeout=10_000)
    n.fill("256")
    n.press("Enter")
    # budgets below n, so the sparse methods really skip entries
    page.get_by_text("hyper (attention)").click()
    for label, value in (("block", "32"), ("samples", "32")):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
    page.get_by_text("lev (attention)").click()
    keys = page.get_by_label("keys", exact=True)
    keys.fill("32")
    keys.press("Enter")
    page.get_by_label("sweep parameter").select_option("layer")
    values = page.get_by_label("values", exact=True)
    values.fill("0, 1, 2, 3, 4, 5")
    values.press("Enter")
    expect(page.locator("svg.tb-attention-setup")).to_contain_text("minilm", timeout=10_000)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(status(page)).to_contain_text("running", timeout=30_000)
    expect(status(page)).to_contain_text("ok", timeout=600_000)
    rows = page.locator("table.tb-table tr[data-label^='lev keys=32']")
    expect(rows).to_have_count(6, timeout=30_000)  # one per layer
    expect(page.locator(".tb-heat-caption")).to_contain_text("n = 256", timeout=30_000)
    page.screenshot(path=str(screenshots / "attention-minilm-layers.png"), full_page=True)


def test_a_checkbox_toggles_from_its_words(page: Page, server: str):
    # Bokeh 3.9's own Checkbox draws its label as a plain div: a click on "causal" did
    # nothing, only the 13-pixel box answered. The app's Checkbox wraps input and words
    # in a <label>; the click must reach the server (the setup drawing turns causal).
    open_page(page, server, "Attention")
    setup = page.locator("svg.tb-attention-setup")
    expect(setup).to_be_visible(timeout=30_000)
    expect(setup).not_to_contain_text("causal")
    page.get_by_text("causal", exact=True).click()
    expect(page.get_by_role("checkbox", name="causal")).to_be_checked()
    expect(setup).to_contain_text("causal", timeout=10_000)
    page.get_by_text("causal", exact=True).click()
    expect(setup).not_to_contain_text("causal", timeout=10_000)


def test_a_number_box_reads_1e3_as_a_thousand(page: Page, server: str):
    # Bokeh's integer box dropped the "e" as it was typed: "1e3" became n = 13, silently.
    open_page(page, server, "Attention")
    setup = page.locator("svg.tb-attention-setup")
    expect(setup).to_be_visible(timeout=30_000)
    page.get_by_label("sweep parameter").select_option("(no sweep)")
    box = page.get_by_label("sequence length n", exact=True)
    expect(box).to_be_enabled(timeout=10_000)
    box.fill("")
    box.type("1e3")
    box.press("Enter")
    expect(setup).to_contain_text("1000 x 1000", timeout=10_000)
    expect(box).to_have_value("1000")


_SETUP_BOXES_JS = """() => {
  const svg = document.querySelector('svg.tb-attention-setup');
  const width = svg.getBoundingClientRect().right;
  const rect = (e) => { const r = e.getBoundingClientRect();
                        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  return {width, texts: [...svg.querySelectorAll('text')].map((t) => ({text: t.textContent,
                                                                       ...rect(t)})),
          boxes: [...svg.querySelectorAll('rect')].map(rect)};
}"""


@pytest.mark.parametrize("prefix", [64, 1024, 65536])
def test_the_setup_drawing_keeps_its_words_apart(page: Page, prefix: int):
    # A 1k prefix before a 4k suffix: "K prefix" ran under the K box beside it ("K prefi")
    # and its caption reached left over Q's; V's caption was cut at the drawing's edge.
    from tensorbench.app.pages.attention import default_attention_config
    from tensorbench.engine import load_config
    from tensorbench.widgets.attention_view import setup_svg

    task = default_attention_config().task | {
        "input": {"kind": "shared_prefix", "prefix": prefix},
        "methods": [{"method": "exact"}, {"method": "hydragen"}],
    }
    task = load_config({"task": task}).task
    page.set_content(f"<html><body style='margin: 0'>{setup_svg(task)}</body></html>")
    got = page.evaluate(_SETUP_BOXES_JS)
    texts = [t for t in got["texts"] if t["text"]]
    assert all(t["right"] <= got["width"] + 0.5 for t in texts), texts
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            apart = (
                a["right"] <= b["left"] + 0.5
                or b["right"] <= a["left"] + 0.5
                or a["bottom"] <= b["top"] + 0.5
                or b["bottom"] <= a["top"] + 0.5
            )
            assert apart, (a, b)
    label = next(t for t in texts if t["text"] == "K prefix")
    box = next(
        r for r in got["boxes"] if r["left"] <= label["left"] and label["right"] <= r["right"]
    )
    assert box["top"] <= label["top"] and label["bottom"] <= box["bottom"]
