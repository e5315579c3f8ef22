"""Drawing a network with the mouse in Debian's chromium, against `tensorbench serve`."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.ui


def center(locator) -> tuple[float, float]:
    """Centre of an element; retried because every edit redraws the canvas's elements."""
    for _ in range(50):
        locator.wait_for(state="attached", timeout=10_000)  # a flat line counts as hidden
        box = locator.bounding_box()
        if box is not None:
            return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        locator.page.wait_for_timeout(100)
    raise AssertionError(f"{locator} has no box")


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def params(page: Page):
    return page.locator("[data-stat=params] .tb-value")


def test_draw_a_chain_with_the_mouse_only(page: Page, server: str, screenshots):
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    expect(params(page)).to_have_text("3136", timeout=60_000)

    # empty canvas, then three tensors by double-clicking
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("[data-role=tensor]")).to_have_count(0, timeout=10_000)
    box = page.get_by_test_id("canvas").bounding_box()
    for k, fx in enumerate((0.25, 0.5, 0.75)):
        page.mouse.dblclick(box["x"] + box["width"] * fx, box["y"] + box["height"] * 0.45)
        expect(page.locator("[data-role=tensor]")).to_have_count(k + 1, timeout=10_000)

    # connect: drag each tensor's connector ring onto the next tensor
    for a, b in (("T0", "T1"), ("T1", "T2")):
        drag(
            page,
            center(page.locator(f"[data-role=connector][data-tensor={a}]")),
            center(page.locator(f"[data-role=tensor][data-tensor={b}]")),
        )
    expect(page.locator("[data-role=bond]")).to_have_count(2, timeout=10_000)
    expect(params(page)).to_have_text("8", timeout=10_000)  # 2 + 2*2 + 2

    # set one dimension: click the bond, then the size spinner's up arrow
    page.mouse.click(*center(page.locator("[data-role=bond][data-index=b0]")))
    size = page.get_by_label("size (dimension)")
    expect(size).to_have_value("2", timeout=10_000)
    sb = size.bounding_box()
    page.mouse.click(sb["x"] + sb["width"] - 10, sb["y"] + 9)
    expect(params(page)).to_have_text("11", timeout=10_000)  # 3 + 3*2 + 2
    expect(page.get_by_test_id("einsum")).to_have_text("a,ab,b->")

    # drag T2: its bond follows while the button is still down
    line = page.locator("[data-role=bond][data-index=b1]")
    y_before = float(line.get_attribute("y2"))
    x, y = center(page.locator("[data-role=tensor][data-tensor=T2]"))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 90, steps=10)
    y_during = float(line.get_attribute("y2"))
    page.mouse.up()
    assert y_during > y_before + 40, (y_before, y_during)
    t2 = page.locator("g[data-tensor=T2]")
    expect(t2).not_to_have_attribute("transform", f"translate({x},{y})")
    moved = t2.get_attribute("transform")

    # undo the move: T2 goes back, the bond with it
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Undo").click()
    expect(t2).not_to_have_attribute("transform", moved, timeout=10_000)
    expect(line).to_have_attribute("y2", str(y_before).rstrip("0").rstrip("."), timeout=10_000)
    expect(params(page)).to_have_text("11")

    page.mouse.click(box["x"] + 20, box["y"] + box["height"] - 20)  # clear the selection
    page.wait_for_timeout(800)
    page.screenshot(
        path=str(screenshots / "editor_chain.png"),
        clip={
            "x": box["x"] - 10,
            "y": box["y"] - 50,
            "width": box["width"] + 320,
            "height": box["height"] + 60,
        },
    )


def test_keyboard_shortcuts_and_refusals(page: Page, server: str):
    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    expect(params(page)).to_have_text("3136", timeout=60_000)
    canvas = page.get_by_test_id("canvas")
    a = page.locator("[data-role=tensor][data-tensor=A0]")
    page.mouse.click(*center(a))
    canvas.press("l")  # an open leg on the selected tensor
    expect(page.locator("[data-role=leg-tip][data-tensor=A0]")).to_have_count(2, timeout=10_000)
    canvas.press("Delete")
    expect(page.locator("[data-role=tensor]")).to_have_count(7, timeout=10_000)
    canvas.press("Control+z")
    expect(page.locator("[data-role=tensor]")).to_have_count(8, timeout=10_000)
    # a leg dropped on its own tensor is refused with a message, the drawing stays
    drag(
        page,
        center(page.locator("[data-role=leg-tip][data-index=p3]")),
        center(page.locator("[data-role=tensor][data-tensor=A3]")),
    )
    expect(page.get_by_text("'A3' cannot be connected to itself").first).to_be_visible(
        timeout=10_000
    )
    expect(page.locator("[data-role=bond]")).to_have_count(7)
    # joining two open legs of equal size makes a bond
    drag(
        page,
        center(page.locator("[data-role=leg-tip][data-index=p0]")),
        center(page.locator("[data-role=leg-tip][data-index=p7]")),
    )
    expect(page.locator("[data-role=bond]")).to_have_count(8, timeout=10_000)
    # 8 physical legs plus i0, minus the two joined
    expect(page.locator("[data-stat=tensors] .tb-value")).to_contain_text("8 bonds, 7 open")


def test_export_tab_previews_and_downloads_runnable_code(page: Page, server: str, tmp_path):
    import subprocess
    import sys

    page.set_viewport_size({"width": 1500, "height": 1100})
    page.goto(server)
    expect(params(page)).to_have_text("3136", timeout=60_000)
    page.get_by_text("Export", exact=True).click()
    expect(page.get_by_test_id("export-text")).to_contain_text("np.einsum", timeout=20_000)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download", exact=True).click()
    path = tmp_path / "mps_numpy.py"
    info.value.save_as(path)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "(2, 2, 2, 2, 2, 2, 2, 2)" in proc.stdout
    select = page.get_by_label("export as")
    svg = next(o for o in select.locator("option").all_inner_texts() if o.startswith("svg"))
    select.select_option(label=svg)
    expect(page.locator("svg[role=img] title").first).to_have_text(
        "MPS 8 sites, bond 16, phys 2", timeout=20_000
    )
