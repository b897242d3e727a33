"""The ledger list API's search, keyset cursor and capped count, on SQLite and PostgreSQL; and
the panel's status labels agree with the workflow's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from callcenter.clock import ManualClock
from callcenter.drafting.rules import DraftingRules
from callcenter.ledger.lifecycle import LABELS, STATES
from callcenter.web.routers import entries as entries_router
from callcenter.web.vocab import vocabulary


def clerk(parts) -> TestClient:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    return TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})


def fill(parts, clock: ManualClock, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    _, ledger, accounts, _ = parts
    uid = next(i for i, u, _ in accounts.users() if u == "clerk1")
    ids = []
    for i in range(n):
        ids.append(ledger.create_manual_entry({"summary": f"第{i}号 楼道灯不亮"}, "walk_in", "clerk1", uid).id)
        if i % 3 == 0:
            clock.advance(seconds=30)
    return ids


def test_search_by_transcript_and_summary(parts, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    _, ledger, _, _ = parts
    fill(parts, clock, 3)
    ledger.call_ringing("c1", "13800138000", "", "hotline", clock.now())
    entry_id = ledger.call_answered("c1").entry_id
    ledger.set_transcript("c1", SimpleNamespace(text="我家卫生间下水道堵了", words=[], engine="t"), "done")
    c = clerk(parts)
    for q, want in [("下水道堵", [entry_id]), ("堵", [entry_id]), ("不存在", []), ('"OR NEAR(*', [])]:
        page = c.get("/api/entries", params={"q": q}).json()
        assert [e["id"] for e in page["items"]] == want, q
        assert page["total"] == len(want) and page["total_exact"] and page["next_cursor"] is None
    assert c.get("/api/entries", params={"q": "楼道灯"}).json()["total"] == 3


def test_cursor_walk_matches_offset_order(parts, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    ids = fill(parts, clock, 17)
    c = clerk(parts)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = c.get("/api/entries", params=params).json()
        assert page["total"] == 17
        seen += [e["id"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and seen == sorted(ids, reverse=True)
    by_offset = [e["id"] for o in range(0, 17, 5)
                 for e in c.get("/api/entries", params={"limit": 5, "offset": o}).json()["items"]]
    assert by_offset == seen  # the old offset paging still works, same order
    # a page that ends exactly at the last row has no next cursor
    assert c.get("/api/entries", params={"limit": 17}).json()["next_cursor"] is None


def test_bad_cursor_is_a_422(parts) -> None:  # type: ignore[no-untyped-def]
    r = clerk(parts).get("/api/entries", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and "游标" in r.json()["detail"]


def test_count_is_capped(parts, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    fill(parts, clock, 7)
    monkeypatch.setattr(entries_router, "LIST_COUNT_CAP", 5)
    page = clerk(parts).get("/api/entries", params={"limit": 2}).json()
    assert page["total"] == 5 and page["total_exact"] is False and page["next_cursor"]
    monkeypatch.setattr(entries_router, "LIST_COUNT_CAP", 7)
    page = clerk(parts).get("/api/entries", params={"limit": 2}).json()
    assert page["total"] == 7 and page["total_exact"] is True


def test_panel_status_labels_are_the_workflow_labels() -> None:
    """The panel shows the statuses /api/meta's vocab serves (it keeps no copy: tests/web/
    test_panel_source.py), and those are the workflow's labels, in the lifecycle's order."""
    served = vocabulary(DraftingRules.load().site_terms()).entry_statuses
    assert {x.code: x.label for x in served} == LABELS
    assert [x.code for x in served] == list(STATES)
