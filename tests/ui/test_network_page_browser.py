"""The app in Debian's chromium, driven by Playwright against `tensorbench serve`."""

from __future__ import annotations

import json
import math
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tensorbench.app.demos import load_demo

pytestmark = pytest.mark.ui

LOAD = 60_000  # ms: first render on a busy 2-core machine


def stat(page: Page, key: str):
    return page.locator(f"[data-stat={key}] .tb-value")


def open_app(page: Page, url: str) -> list[str]:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url)
    expect(stat(page, "params")).to_have_text("3136", timeout=LOAD)
    return requests


def test_loads_offline_with_the_default_network(page: Page, server: str, screenshots):
    requests = open_app(page, server)
    expect(stat(page, "flops")).to_have_text("3.686e+04")
    expect(page.get_by_text("MPS 8 sites, bond 16, phys 2").first).to_be_visible()
    expect(page.locator("canvas").first).to_be_visible()
    page.wait_for_timeout(1500)  # let late resources load before checking where they came from
    hosts = {
        urlparse(u).hostname for u in requests if urlparse(u).scheme in ("http", "https", "ws")
    }
    assert hosts == {"127.0.0.1"}, requests


def test_changing_a_size_updates_the_stats_and_diagram(page: Page, server: str, screenshots):
    open_app(page, server)
    sites = page.get_by_label("sites", exact=True)
    sites.fill("10")
    sites.press("Enter")
    expect(stat(page, "params")).to_have_text("4160", timeout=20_000)  # 2*2*16 + 8*16*2*16
    expect(stat(page, "tensors")).to_contain_text("10 (9 bonds, 10 open")
    expect(page.get_by_text("MPS 10 sites, bond 16, phys 2").first).to_be_visible()
    bond = page.get_by_label("bond", exact=True)
    bond.fill("32")
    bond.press("Enter")
    expect(stat(page, "params")).to_have_text(str(2 * 2 * 32 + 8 * 32 * 2 * 32), timeout=20_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(screenshots / "network.png"), full_page=True)


def test_template_switch_and_run_with_progress(page: Page, server: str, screenshots):
    open_app(page, server)
    page.get_by_label("template", exact=True).select_option("peps")
    expect(page.get_by_text("PEPS 3x3, bond 3, phys 2").first).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Run").click()
    summary = page.locator(".tb-summary")
    expect(summary).to_contain_text("value: shape (2, 2, 2, 2, 2, 2, 2, 2, 2)", timeout=60_000)
    expect(summary).to_contain_text("contract: PEPS 3x3")
    # the page stayed responsive: the Run button is usable again
    expect(page.get_by_role("button", name="Run")).to_be_enabled()
    page.screenshot(path=str(screenshots / "run.png"), full_page=True)


def test_bad_json_shows_a_message_not_a_traceback(page: Page, server: str):
    open_app(page, server)
    page.get_by_text("Config JSON", exact=True).click()
    editor = page.get_by_label("Config JSON (edit and press Apply)")
    doc = json.loads(editor.input_value())
    doc["network"]["sizes"]["b0"] = -4
    editor.fill(json.dumps(doc))
    editor.press("Tab")
    page.get_by_role("button", name="Apply JSON").click()
    expect(page.get_by_text("size of index 'b0' must be >= 1, got -4").first).to_be_visible(
        timeout=20_000
    )
    expect(stat(page, "params")).to_have_text("3136")  # the work is kept
    assert "Traceback" not in page.content()


def test_uploading_a_broken_file_is_refused_clearly(page: Page, server: str, tmp_path):
    open_app(page, server)
    bad = tmp_path / "broken.json"
    bad.write_text('{"task": {"kind": "contract"}')
    page.locator("input[type=file]").set_input_files(str(bad))
    expect(page.get_by_text("broken.json: not valid JSON").first).to_be_visible(timeout=20_000)
    huge = tmp_path / "huge.json"
    doc = {
        "task": {"kind": "contract"},
        "network": {
            "tensors": [{"name": "A", "indices": ["i", "j"]}],
            "sizes": {"i": 10**6, "j": 10**6},
        },
    }
    huge.write_text(json.dumps(doc))
    page.locator("input[type=file]").set_input_files(str(huge))
    expect(page.get_by_text("tensor 'A' would have 1e+12 elements").first).to_be_visible(
        timeout=20_000
    )
    expect(stat(page, "params")).to_have_text("3136")
    # an empty file is refused aloud (the browser sends it as no content: it was skipped)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    page.locator("input[type=file]").set_input_files(str(empty))
    expect(page.get_by_text("empty.json: not valid JSON: the text is empty").first).to_be_visible(
        timeout=20_000
    )
    # and a file chosen again is read again (the browser sends nothing for the file its
    # input holds), as a way back from edits
    good = tmp_path / "good.json"
    good.write_text(load_demo("cp").to_json())
    page.locator("input[type=file]").set_input_files(str(good))
    params = stat(page, "params")
    expect(params).not_to_have_text("3136", timeout=20_000)
    loaded = params.inner_text()
    page.get_by_label("template", exact=True).select_option("peps")
    expect(params).not_to_have_text(loaded, timeout=20_000)
    page.locator("input[type=file]").set_input_files(str(good))
    expect(params).to_have_text(loaded, timeout=20_000)
    assert "Traceback" not in page.content()


def test_downloads_give_the_config_and_a_script(page: Page, server: str, tmp_path):
    open_app(page, server)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download config").click()
    path = tmp_path / "config.json"
    info.value.save_as(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "tensorbench/config" and len(doc["network"]["tensors"]) == 8
    with page.expect_download() as info:
        page.get_by_role("button", name="Download script").click()
    script = tmp_path / "script.py"
    info.value.save_as(script)
    compile(script.read_text(), "script.py", "exec")
    assert "from tensorbench.engine import TensorbenchError, load_config, run" in script.read_text()


def test_cancel_mid_run_keeps_the_page_responsive(page: Page, server: str):
    open_app(page, server)
    page.get_by_label("template", exact=True).select_option("peps")
    expect(page.get_by_text("PEPS 3x3, bond 3, phys 2").first).to_be_visible(timeout=20_000)
    bond = page.get_by_label("bond", exact=True)
    # bond 16: 6.9e8 flops, ~0.12 s per contraction here, so 1000 repeats run for minutes
    # (bond 8 measured 0.4 ms at best: its 1000 repeats could end before Cancel is reached)
    bond.fill("16")
    bond.press("Enter")
    expect(page.get_by_text("PEPS 3x3, bond 16, phys 2").first).to_be_visible(timeout=20_000)
    repeats = page.get_by_label("repeats", exact=True)
    repeats.fill("1000")
    repeats.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Run").click()
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled(timeout=20_000)
    expect(page.get_by_text("step ").first).to_be_visible(timeout=20_000)  # progress shown
    # the page answers while the run goes on: change a size and see the stats follow
    rows = page.get_by_label("rows", exact=True)
    rows.fill("2")
    rows.press("Enter")
    expect(page.get_by_text("PEPS 2x3, bond 16, phys 2").first).to_be_visible(timeout=20_000)
    cancel.click()
    expect(page.locator(".tb-summary")).to_contain_text("status: cancelled", timeout=30_000)
    expect(page.get_by_role("button", name="Run")).to_be_enabled()


def test_big_networks_do_not_freeze_the_page(page: Page, server: str, screenshots):
    open_app(page, server)
    page.get_by_label("template", exact=True).select_option("peps")
    expect(page.get_by_text("PEPS 3x3, bond 3, phys 2").first).to_be_visible(timeout=20_000)
    rows, cols = page.get_by_label("rows", exact=True), page.get_by_label("cols", exact=True)
    rows.fill("25")
    rows.press("Enter")
    cols.fill("25")  # 625 tensors: seconds of path search, done in the background
    cols.press("Enter")
    # building 625 tensors takes seconds; on a loaded 2-core machine it took over 30 s
    expect(page.get_by_text("PEPS 25x25, bond 3, phys 2").first).to_be_visible(timeout=90_000)
    rows.fill("2")
    rows.press("Enter")
    cols.fill("2")
    cols.press("Enter")
    expect(page.get_by_text("PEPS 2x2, bond 3, phys 2").first).to_be_visible(timeout=30_000)
    expect(stat(page, "tensors")).to_contain_text("4 (4 bonds, 4 open", timeout=60_000)
    expect(page.locator("[data-stat-status=ready]")).to_be_visible(timeout=60_000)


def test_leg_labels_stay_off_their_tips(page: Page, server: str):
    # A sideways leg's label ("p1_0 (2)") was centred 16 px past the tip, over it.
    open_app(page, server)
    page.get_by_label("template").select_option("peps")
    expect(stat(page, "params")).to_have_text("450", timeout=LOAD)
    legs = page.locator("g.tb-leg.tb-open")
    expect(legs).to_have_count(9)
    page.wait_for_timeout(1000)  # the canvas redraws as the costs arrive: let it settle
    # every box in one call: between two calls a redraw may replace the elements
    boxes = legs.evaluate_all(
        """els => els.map(g => [g.querySelector('rect.tb-leg-tip'),
                                g.querySelector('text.tb-leg-label')]
            .map(e => { const r = e.getBoundingClientRect();
                        return {x: r.x, y: r.y, width: r.width, height: r.height}; }))"""
    )
    assert len(boxes) == 9
    for k, (tip, label) in enumerate(boxes):
        apart_x = label["x"] >= tip["x"] + tip["width"] or label["x"] + label["width"] <= tip["x"]
        apart_y = label["y"] >= tip["y"] + tip["height"] or label["y"] + label["height"] <= tip["y"]
        assert apart_x or apart_y, (k, tip, label)


_HUB_LABEL_ON_SPOKES_JS = """(g) => {
  const label = g.querySelector('text.tb-bond-label');
  const box = label.getBoundingClientRect();
  const hits = [];
  for (const line of g.querySelectorAll('line.tb-bond-line')) {
    const m = line.getScreenCTM();
    const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => +line.getAttribute(a));
    for (let t = 0; t <= 1; t += 0.02) {
      const p = new DOMPoint(x1 + t * (x2 - x1), y1 + t * (y2 - y1)).matrixTransform(m);
      if (p.x > box.left && p.x < box.right && p.y > box.top && p.y < box.bottom) {
        hits.push([p.x, p.y]);
      }
    }
  }
  return {text: label.textContent, hits};
}"""


def _centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_hyperedge_size_stays_off_its_spokes(page: Page, server: str):
    # The size of a hyperedge sat up and to the right of its hub, whatever went there:
    # a factor dragged up-right of the hub had its spoke run through "r=3".
    open_app(page, server)
    page.get_by_label("template").select_option("cp")
    expect(page.locator("g.tb-hyper line.tb-bond-line")).to_have_count(4, timeout=LOAD)
    page.wait_for_timeout(1000)  # the canvas redraws as the costs arrive: let it settle
    hub = _centre(page.locator("g.tb-hyper path.tb-hub"))
    u1 = page.locator("[data-role=tensor][data-tensor=U1]")
    x, y = _centre(u1)
    # U1 (right of the hub) turned 45 degrees about it, to the up-right diagonal
    c = math.sqrt(0.5)
    dx, dy = x - hub[0], y - hub[1]
    to = hub[0] + c * (dx + dy), hub[1] + c * (dy - dx)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(*to, steps=8)
    page.mouse.up()
    page.wait_for_timeout(500)
    found = page.locator("g.tb-hyper").evaluate(_HUB_LABEL_ON_SPOKES_JS)
    assert found["text"] == "r=3" and not found["hits"], found


_LABELS_ON_LINES_JS = """(groups) => {
  const hits = [];
  const lines = groups.map((g) => [...g.querySelectorAll('line.tb-bond-line')]);
  groups.forEach((g, i) => {
    const label = g.querySelector('text.tb-bond-label');
    if (!label) return;
    const box = label.getBoundingClientRect();
    lines.forEach((ls, j) => {
      if (i === j) return;
      for (const line of ls) {
        const m = line.getScreenCTM();
        const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => +line.getAttribute(a));
        for (let t = 0; t <= 1; t += 0.01) {
          const p = new DOMPoint(x1 + t * (x2 - x1), y1 + t * (y2 - y1)).matrixTransform(m);
          if (p.x > box.left && p.x < box.right && p.y > box.top && p.y < box.bottom) {
            hits.push([label.textContent, i, j]);
            return;
          }
        }
      }
    });
  });
  return hits;
}"""


def test_bond_sizes_stay_off_other_bonds(page: Page, server: str):
    # An FCTN square's diagonals cross at their middles: each one's size sat on the other
    open_app(page, server)
    page.get_by_label("template").select_option("fctn")
    groups = page.locator("g.tb-bond")
    expect(groups).to_have_count(6, timeout=LOAD)
    page.wait_for_timeout(1000)  # the canvas redraws as the costs arrive: let it settle
    assert groups.evaluate_all(_LABELS_ON_LINES_JS) == []


_HUB_ON_BONDS_JS = """(groups) => {
  const hub = groups.find((g) => g.classList.contains('tb-hyper')).querySelector('path.tb-hub');
  const h = hub.getBoundingClientRect();
  const c = [(h.left + h.right) / 2, (h.top + h.bottom) / 2];
  let gap = Infinity;
  for (const g of groups) {
    if (g.classList.contains('tb-hyper')) continue;
    const line = g.querySelector('line.tb-bond-line');
    const m = line.getScreenCTM();
    const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => +line.getAttribute(a));
    for (let t = 0; t <= 1; t += 0.01) {
      const p = new DOMPoint(x1 + t * (x2 - x1), y1 + t * (y2 - y1)).matrixTransform(m);
      gap = Math.min(gap, Math.hypot(p.x - c[0], p.y - c[1]));
    }
  }
  return gap;
}"""


def test_a_hub_and_its_size_keep_off_other_bonds(page: Page, server: str, tmp_path):
    # Three tensors in a triangle and a fourth outside, one hyperedge over all four: the
    # hub (their middle) fell on a side of the triangle, "h0=2" over that line and size
    doc = {
        "task": {"kind": "contract"},
        "network": {
            "tensors": [
                {"name": "T0", "indices": ["a", "b", "d"], "pos": [0.0, 0.0]},
                {"name": "T1", "indices": ["a", "e", "d"], "pos": [2.0, 0.0]},
                {"name": "T2", "indices": ["e", "b", "d"], "pos": [1.0, 1.7]},
                {"name": "T3", "indices": ["d"], "pos": [3.0, 1.7]},
            ],
            "sizes": {"a": 5, "b": 2, "d": 2, "e": 2},
            "output": [],
        },
    }
    path = tmp_path / "triangle.json"
    path.write_text(json.dumps(doc))
    open_app(page, server)
    page.locator("input[type=file]").set_input_files(str(path))
    groups = page.locator("g.tb-bond")
    expect(groups).to_have_count(4, timeout=LOAD)
    page.wait_for_timeout(1000)  # the canvas redraws as the costs arrive: let it settle
    assert groups.evaluate_all(_HUB_ON_BONDS_JS) >= 12
    assert groups.evaluate_all(_LABELS_ON_LINES_JS) == []


def test_a_button_tooltip_does_not_take_its_neighbours_clicks(page: Page, server: str):
    # After Undo, its tooltip "Undo (Ctrl+Z)" lay over Redo and took the click.
    open_app(page, server)
    page.get_by_label("template").select_option("peps")
    expect(stat(page, "params")).to_have_text("450", timeout=LOAD)
    page.get_by_role("button", name="Undo").click()
    expect(stat(page, "params")).to_have_text("3136", timeout=LOAD)
    expect(page.locator(".bk-Tooltip").first).to_be_visible()
    page.get_by_role("button", name="Redo").click(timeout=5_000)
    expect(stat(page, "params")).to_have_text("450", timeout=LOAD)


def test_a_refusal_neither_moves_the_canvas_nor_stacks_toasts(page: Page, server: str):
    # The alert above the canvas pushed it down by its height (the next click hit another
    # tensor), and each refusal added a 10-second toast over the selection panel.
    open_app(page, server)
    canvas = page.get_by_test_id("canvas")
    top = canvas.bounding_box()["y"]
    page.locator("[data-role=tensor]").first.click()
    name = page.get_by_label("tensor name")
    expect(name).to_be_visible(timeout=10_000)
    for bad in ("a b", "1x", "x-y"):
        name.fill(bad)
        name.press("Enter")
        expect(page.get_by_text(f"tensor name {bad!r} is not allowed").first).to_be_visible(
            timeout=10_000
        )
    assert canvas.bounding_box()["y"] == top
    expect(page.locator(".notyf__toast")).to_have_count(1, timeout=10_000)
