"""The Decompose page in Debian's chromium: TT and Tucker side by side, live curves,
cancelling one run, and an exported config that reproduces the final errors."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect
from tb_testing import expect_frames, open_page

pytestmark = pytest.mark.ui


def status(page: Page, label: str):
    return page.locator(f".tb-run-status[data-label='{label}']")


def test_decompose_camera_with_tt_and_tucker(page: Page, server: str, tmp_path, cli, screenshots):
    page.set_viewport_size({"width": 1440, "height": 1300})
    open_page(page, server, "Decompose")
    expect(page.get_by_role("button", name="Run all")).to_be_visible(timeout=30_000)

    # make the TT run long enough to watch: 150 sweeps, no early stop
    page.get_by_text("tt_als (tt)").click()
    max_iter = page.get_by_label("max iter").first
    max_iter.fill("150")
    max_iter.press("Enter")
    tol = page.get_by_label("tol").first
    tol.fill("0")
    tol.press("Enter")
    page.wait_for_timeout(500)

    page.get_by_role("button", name="Run all").click()
    expect(status(page, "tt_als")).to_contain_text("running · iteration", timeout=60_000)
    first = status(page, "tt_als").inner_text()
    expect(status(page, "tt_als")).not_to_have_text(first, timeout=30_000)  # it moves on
    expect(page.locator(".bk-Canvas, canvas").first).to_be_visible()
    expect_frames(page, 2)  # both live plots have room for their curves, not axes only
    expect(status(page, "hooi")).to_contain_text("ok", timeout=120_000)
    expect(status(page, "tt_als")).to_contain_text("ok", timeout=180_000)
    table = page.locator("table.tb-table")
    expect(table).to_contain_text("tt_als", timeout=30_000)
    # its cells are spaced (unstyled, "methodrelative error" ran together)
    assert table.locator("th").first.evaluate("e => getComputedStyle(e).paddingRight") == "8px"
    rows = {
        label: page.locator(f"tr[data-label='{label}'] td").nth(1).inner_text()
        for label in ("tt_als", "hooi")
    }
    page.screenshot(path=str(screenshots / "decompose.png"), full_page=True)

    # a second run, one method cancelled while the other finishes
    page.get_by_role("button", name="Run all").click()
    expect(status(page, "tt_als")).to_contain_text("running", timeout=60_000)
    page.get_by_role("button", name="Cancel", exact=True).first.click()
    expect(status(page, "tt_als")).to_contain_text("cancelled", timeout=60_000)
    expect(status(page, "hooi")).to_contain_text("ok", timeout=120_000)

    # export the config: the CLI reproduces the final errors of the first run
    with page.expect_download() as info:
        page.get_by_role("button", name="Download config").click()
    path = tmp_path / "decompose.json"
    info.value.save_as(path)
    assert json.loads(path.read_text())["task"]["methods"][0]["max_iter"] == 150
    proc = cli("run", "decompose.json", "-q", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for label, err in rows.items():
        line = next(x for x in proc.stdout.splitlines() if x.startswith(f"{label}:"))
        assert re.search(rf"relative error {re.escape(err)}\b", line), (line, err)


def test_an_upload_over_bokehs_message_limit_loads(page: Page, server: str, tmp_path):
    # a 16 MB .npy (base64: 21 MB) cut the connection ("Server connection lost", the
    # session's work gone): Bokeh's websocket takes 20 MiB per message by default
    import numpy as np

    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(0).random((1000, 3000)))  # 24 MB
    open_page(page, server, "Decompose")
    page.get_by_label("data", exact=True).select_option("upload")
    expect(page.get_by_text("a user's .npy or .npz array")).to_be_visible(timeout=20_000)
    page.locator("input[type=file][accept='.npy,.npz']").set_input_files(str(path))
    expect(page.get_by_text("1000 x 3000 (3,000,000 entries)")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Server connection lost")).to_have_count(0)


_CHEVRON_STROKES_JS = """() => {
  const out = [];
  const walk = (root) => {
    for (const svg of root.querySelectorAll('.card-button > svg')) {
      out.push(getComputedStyle(svg).stroke);
    }
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return out;
}"""


def test_method_cards_show_that_they_open(page: Page, server: str):
    # the cards' chevrons were stroked with a colour the design leaves undefined (none):
    # the cards read as stuck dropdown items, and max iter or tol went unfound
    open_page(page, server, "Decompose")
    expect(page.get_by_text("tt_als (tt)")).to_be_visible(timeout=30_000)
    strokes = page.evaluate(_CHEVRON_STROKES_JS)
    assert len(strokes) >= 2 and "none" not in strokes, strokes
