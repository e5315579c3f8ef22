"""The Search page in Debian's chromium: a hidden-truth demo, TnALE racing TNGA with live
curves and incumbents, cancel, and the best structure opened in the editor."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from tb_testing import expect_frames, open_page

pytestmark = pytest.mark.ui


def status(page: Page, label: str):
    return page.locator(f".tb-run-status[data-label='{label}']")


def test_hidden_truth_race_tnale_vs_tnga(page: Page, server: str, screenshots):
    page.set_viewport_size({"width": 1440, "height": 1500})
    open_page(page, server, "Search")
    start = page.get_by_role("button", name="Start search")
    expect(start).to_be_visible(timeout=30_000)

    # a hidden ring of order 6: big enough that the race is still on when we cancel it
    order = page.get_by_label("order", exact=True)
    order.fill("400")  # out of range: the page says why (it once kept the old value silently)
    order.press("Enter")
    expect(page.locator(".alert-danger").first).to_contain_text(
        "order must be between 3 and 12, got 400", timeout=10_000
    )
    order.fill("6")
    order.press("Enter")
    expect(page.locator("pre").filter(has_text='"G5"').first).to_be_attached(timeout=10_000)
    # a budget no strategy reaches before we cancel, and a TNGA that does not stop on a
    # stale streak: on a fast machine both ended "ok" before Cancel with the defaults
    evaluations = page.get_by_label("evaluations", exact=True)
    evaluations.fill("100000")
    evaluations.press("Enter")
    page.locator(".card-header").filter(has_text="tnga").first.click()
    patience = page.get_by_label("patience", exact=True)
    patience.fill("10000")
    patience.press("Enter")
    expect(page.locator("pre").filter(has_text='"patience": 10000').first).to_be_attached(
        timeout=10_000
    )

    start.click()
    expect(status(page, "tnale")).to_contain_text("fits", timeout=120_000)
    expect(status(page, "tnga")).to_contain_text("fits", timeout=120_000)
    # the race moves: counts and incumbents change while we watch
    before = status(page, "tnga").inner_text()
    expect(status(page, "tnga")).not_to_have_text(before, timeout=60_000)
    cards = page.locator(".tb-card")
    expect(cards).to_have_count(3)  # the hidden truth and one incumbent per strategy
    expect(page.locator(".tb-structure svg")).to_have_count(3, timeout=60_000)
    first_card = cards.nth(2).inner_text()
    expect(cards.nth(2)).not_to_have_text(first_card, timeout=90_000)
    expect(page.locator(".bk-Canvas, canvas").first).to_be_visible()
    expect(page.locator(".tabulator-row").first).to_be_visible(timeout=30_000)
    # both score plots and the scatter have room for their data: nested one Column
    # deeper, the score plots were drawn as axes only (frames of height 0) and froze
    expect_frames(page, 3)
    page.screenshot(path=str(screenshots / "search-live.png"), full_page=True)

    page.get_by_role("button", name="Cancel all").click()
    # the click shows at once ("cancelling" while a fit in flight ends its sweep): with
    # WebGL plots redrawn every second, a Chromium without a GPU fell so far behind that
    # the click once never landed
    expect(status(page, "tnga")).to_have_text(re.compile(r"^cancel"), timeout=30_000)
    for label in ("tnale", "tnga"):
        expect(status(page, label)).to_have_text(re.compile(r"^(cancelled|ok)"), timeout=120_000)
    texts = [status(page, label).inner_text() for label in ("tnale", "tnga")]
    assert texts[1].startswith("cancelled"), texts
    expect(page.locator(".tb-race-summary")).to_contain_text("fits", timeout=30_000)
    expect_frames(page, 3)
    page.screenshot(path=str(screenshots / "search-cancelled.png"), full_page=True)

    # the best structure found opens on the canvas of the Network page
    page.get_by_role("button", name="Open in editor").click()
    expect(page.locator("[data-stat=tensors] .tb-value")).to_contain_text("6 (", timeout=30_000)
    expect(page.locator("[data-stat=params] .tb-value")).not_to_have_text("3136")
    page.screenshot(path=str(screenshots / "search-best-in-editor.png"), full_page=True)


def test_tucker_mode_after_a_network_race_shows_its_table(page: Page, server: str):
    # Hiding the score plots raised on the server ("unexpected attribute 'design' to
    # GridPlot") once they held a race's plots: Tucker mode then kept the network views
    # and never showed its table.
    page.set_viewport_size({"width": 1440, "height": 1200})
    open_page(page, server, "Search")
    start = page.get_by_role("button", name="Start search")
    expect(start).to_be_visible(timeout=30_000)
    evaluations = page.get_by_label("evaluations", exact=True)
    evaluations.fill("4")
    evaluations.press("Enter")
    start.click()
    for label in ("tnale", "tnga"):
        expect(status(page, label)).to_contain_text(re.compile("ok|cancelled"), timeout=300_000)
    expect(page.get_by_text("Select a row to choose a candidate")).to_be_visible()
    page.get_by_text("Tucker core", exact=True).click()
    start.click()
    expect(page.get_by_text("core shape", exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("The buttons take the core shape")).to_be_visible()
    expect(page.get_by_text("Select a row to choose a candidate")).to_be_hidden()
