"""/api/reports/...: the figures as JSON, the downloads, and who may read them."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from callcenter.clock import ManualClock
from tests.reports.world import build, in_month


@pytest.fixture
def world(parts, engine, clock: ManualClock):  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    accounts.add_user("sup1", "supervisor", "supervisor-password")
    w = build(engine, ledger, clock)
    sup = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('sup1')}"})
    return w, sup


KINDS = ("monthly", "weekly", "unfinished", "complaints", "callbacks", "clerks", "accuracy", "accuracy-weekly")


def test_who_may_read_reports(parts) -> None:  # type: ignore[no-untyped-def]
    app, _, accounts, _ = parts
    accounts.add_user("sup1", "supervisor", "supervisor-password")
    anonymous = TestClient(app)
    clerk = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    sup = TestClient(app)
    assert sup.post("/api/auth/login", json={"username": "sup1", "password": "supervisor-password"}).status_code == 200
    for path in ("/api/reports", "/api/reports/monthly?period=2026-11", "/api/reports/monthly.xlsx",
                 "/api/reports/weekly.csv", "/api/reports/complaints.html"):
        assert anonymous.get(path).status_code == 401, path
        assert clerk.get(path).status_code == 403, path
        assert sup.get(path).status_code == 200, path
    # the older per-field totals still answer beside the new routes
    assert sup.get("/api/reports/draft-accuracy").status_code == 200


def test_monthly_json_matches_the_world(world) -> None:  # type: ignore[no-untyped-def]
    w, sup = world
    r = sup.get("/api/reports/monthly", params={"period": "2026-11"})
    assert r.status_code == 200
    body = r.json()
    recs = [e for e in w.entries if in_month(e.created_at, 2026, 11)]
    assert body["period"]["key"] == "2026-11" and body["period"]["previous"] == "2026-10"
    assert body["data"]["total"] == len(recs)
    assert body["data"]["by_category"] == dict(Counter(e.category or "(未分类)" for e in recs))
    sections = {s["title"]: s for s in body["sections"]}
    assert sections["概况"]["rows"][0] == ["信息总数", len(recs)]
    assert sections["按类别"]["chart"].startswith("<svg")
    assert {"回访完成及满意度", "未接来电回拨", "客服人员", "草稿准确", "趋势（环比、同比）"} <= set(sections)
    assert body["data"]["callbacks"]["due"] == 0 and body["data"]["missed"]["missed"] == 2


def test_every_report_answers_and_bad_input_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    _, sup = world
    listing = {k["kind"]: k for k in sup.get("/api/reports").json()}
    assert set(listing) == set(KINDS)
    assert listing["complaints"]["period_kind"] == "complaint_month"
    for kind in KINDS:
        r = sup.get(f"/api/reports/{kind}", params={"period": listing[kind]["default"]})
        assert r.status_code == 200 and r.json()["kind"] == kind, kind
    weekly = sup.get("/api/reports/weekly", params={"period": "2026-W45"}).json()
    assert weekly["period"]["label"] == "2026-W45"
    complaints = sup.get("/api/reports/complaints", params={"period": "2026-11"}).json()
    assert complaints["period"]["first"] == "2026-10-27" and complaints["period"]["last"] == "2026-11-26"
    assert sup.get("/api/reports/monthly", params={"period": "November"}).status_code == 422
    assert sup.get("/api/reports/nope").status_code == 404
    assert sup.get("/api/reports/monthly.pdf").status_code == 404


def test_downloads(world) -> None:  # type: ignore[no-untyped-def]
    w, sup = world
    recs = [e for e in w.entries if in_month(e.created_at, 2026, 11)]
    x = sup.get("/api/reports/monthly.xlsx", params={"period": "2026-11"})
    assert x.status_code == 200 and "report-monthly-2026-11.xlsx" in x.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(x.content))
    assert wb["概况"]["B2"].value == len(recs)
    c = sup.get("/api/reports/monthly.csv", params={"period": "2026-11"})
    assert c.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert ["概况", "信息总数", str(len(recs))] in rows
    h = sup.get("/api/reports/monthly.html", params={"period": "2026-11"})
    assert h.headers["content-type"].startswith("text/html")
    assert "月度信息统计 · 2026-11" in h.text and "<svg" in h.text and "size: A4" in h.text
