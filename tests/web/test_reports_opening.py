"""Reports on a new site (issue 16): a report opens on a period that has data — the latest
complete one if anything happened in it, else the one holding the newest entry — and a period
without data says 「该时段无数据」 plainly (JSON `empty`, the printable page) rather than tables of
zeros; people are shown by the names people know (display name, else login name), never ids."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callcenter.clock import ManualClock


def _defaults(sup: TestClient) -> dict[str, str]:
    r = sup.get("/api/reports")
    assert r.status_code == 200
    return {k["kind"]: k["default"] for k in r.json()}


def test_reports_open_on_data_and_say_when_a_period_has_none(parts, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts  # the clock: Monday 2026-01-05 09:00 in Shanghai
    accounts.add_user("sup1", "supervisor", "supervisor-password", display_name="主管老陈")
    zhang = accounts.add_user("zhangmin", "clerk", "clerk-password", display_name="张敏")
    sup = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('sup1')}"})

    # a new site: nothing anywhere; the latest complete periods, each saying it has no data
    opening = _defaults(sup)
    assert opening["monthly"] == "2025-12" and opening["clerks"] == "2025-12"
    for kind in ("monthly", "clerks", "callbacks", "unfinished", "weekly"):
        doc = sup.get(f"/api/reports/{kind}").json()
        assert doc["period"]["key"] == opening[kind] and doc["empty"] is True, kind
    printed = sup.get("/api/reports/monthly.html").text
    assert "该时段无数据" in printed and "<table" not in printed

    # the site's first entries today: the reports open on the current period, which has them
    ledger.create_manual_entry({"summary": "楼道灯不亮", "unit": "4-2-301"}, "walk_in", "zhangmin", zhang)
    ledger.create_manual_entry({"summary": "电梯异响"}, "walk_in", "clerk1", 2)  # no display name
    opening = _defaults(sup)
    assert opening["monthly"] == "2026-01" and opening["clerks"] == "2026-01"
    assert opening["unfinished"] == "2026-01-H1"
    monthly = sup.get("/api/reports/monthly").json()
    assert monthly["period"]["key"] == "2026-01" and monthly["empty"] is False
    assert monthly["data"]["by_clerk"] == {"张敏": 1, "clerk1": 1}
    clerks = sup.get("/api/reports/clerks").json()
    assert clerks["empty"] is False
    [section] = clerks["sections"]
    assert sorted(row[0] for row in section["rows"]) == ["clerk1", "张敏"]
    assert "张敏" in section["chart"] and "zhangmin" not in section["chart"]
    assert clerks["data"]["clerks"][0]["clerk"] in ("zhangmin", "clerk1")  # the figures keep the login
    assert "张敏" in sup.get("/api/reports/clerks.csv").content.decode("utf-8-sig")
    # an earlier period asked for by hand still says it is empty
    assert sup.get("/api/reports/monthly", params={"period": "2025-11"}).json()["empty"] is True

    # ten weeks on and nothing since: the newest period with data, not the empty last month
    clock.advance(days=70)  # 2026-03-16
    opening = _defaults(sup)
    assert opening["monthly"] == "2026-01" and opening["clerks"] == "2026-01"
    assert sup.get("/api/reports/monthly", params={"period": "2026-02"}).json()["empty"] is True
