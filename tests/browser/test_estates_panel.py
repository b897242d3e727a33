"""Two estates in real headless Chromium: a clerk of 幸福家园 sees only its entries and live calls
(each marked with its estate), a company supervisor picks an estate in the header's selector.
Screenshots: test-artifacts/browser/."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.accounts import Accounts
from callcenter.estates.scope import assign_estates
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.browser.conftest import PanelServer, login
from tests.estates.conftest import A_NUMBER, B_DIALLED, TwoEstates, two_estates  # noqa: F401  (fixture)

pytestmark = pytest.mark.both_dbs


def test_a_clerk_sees_only_the_estates_assigned(two_estates: TwoEstates, chromium,  # type: ignore[no-untyped-def]  # noqa: F811
                                                artifacts: Path, tmp_path: Path) -> None:
    t = two_estates
    accounts = Accounts(t.engine, t.clock)
    accounts.add_user("clerk_a", "clerk", "clerk-password", display_name="张敏")
    accounts.add_user("boss", "supervisor", "boss-password", display_name="总部主管")
    assign_estates(t.engine, t.estates, "clerk_a", ["xfjy"])
    at = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    for key, number, caller in (("a1", A_NUMBER, "13800000001"), ("b1", B_DIALLED, "13800000002"),
                                ("b2", B_DIALLED, "13800000003")):
        t.ledger.call_ringing(key, caller, "", number, at)
        t.ledger.call_answered(key, at)
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)
    app = create_app(WebServices(ledger=t.ledger, accounts=accounts, bus=t.bus, recordings=store,
                                 settings=WebSettings(secret_file=tmp_path / "secret.key"), estates=t.estates))
    try:
        with PanelServer(app) as server:
            page = chromium.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN",
                                 bypass_csp=True)  # wait_for_function evals its predicate; the CSP forbids eval
            login(page, server.url, "clerk_a", "clerk-password")
            assert not page.is_visible("#estate-filter")  # one estate: nothing to choose
            # the board: the calls in progress of the clerk's estate only, each named
            page.wait_for_selector("#live li.call")
            cards = page.locator("#live li.call")
            assert cards.count() == 1 and "13800000001" in cards.first.inner_text()
            page.wait_for_selector("#live li.call .badge.estate:has-text('幸福家园')")
            # a call to the other estate's hotline does not reach this clerk; one to its own does
            t.ledger.call_ringing("b3", "13800000009", "", B_DIALLED, at)
            t.ledger.call_ringing("a3", "13800000008", "", A_NUMBER, at)
            page.wait_for_selector("#live li.call:has-text('13800000008')")
            assert "13800000009" not in page.inner_text("#live")
            page.screenshot(path=str(artifacts / "estates-01-clerk-board.png"), full_page=True)
            page.click("nav a[data-view=ledger]")
            page.wait_for_selector("#ledger tbody tr[data-id]")
            rows = page.locator("#ledger tbody tr[data-id]")
            assert rows.count() == 1 and "幸福家园" in rows.first.inner_text()
            assert "和园华府" not in page.inner_text("#ledger")
            page.screenshot(path=str(artifacts / "estates-02-clerk-ledger.png"), full_page=True)
            page.click("#logout")
            page.wait_for_selector("#login:not([hidden])")

            login(page, server.url, "boss", "boss-password")
            assert page.is_visible("#estate-filter")
            assert page.locator("#estate-filter option").all_inner_texts() == ["全部项目", "幸福家园", "和园华府"]
            page.click("nav a[data-view=ledger]")
            page.wait_for_function("document.querySelectorAll('#ledger tbody tr[data-id]').length === 3")
            page.select_option("#estate-filter", str(t.b.id))
            page.wait_for_function("document.querySelectorAll('#ledger tbody tr[data-id]').length === 2")
            assert "幸福家园" not in page.inner_text("#ledger tbody")
            page.screenshot(path=str(artifacts / "estates-03-company-ledger-one-estate.png"), full_page=True)
            page.close()
    finally:
        store.shutdown()
