"""`callcenter reports monthly`, run as an administrator would."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.cli_runner import cli
from tests.reports.world import build, in_month


def test_monthly_report_prints_the_figures(tmp_path: Path, db_url: str) -> None:
    url = db_url
    (tmp_path / "config.yaml").write_text(
        f"database:\n  url: {url}\nasr:\n  model_dir: {tmp_path}/models/m\n", encoding="utf-8")
    db.upgrade(url)
    engine = db.make_engine(url)
    clock = ManualClock()
    world = build(engine, LedgerService(engine, clock, EventBus()), clock)
    engine.dispose()
    recs = [r for r in world.entries if in_month(r.created_at, 2026, 11)]

    out = cli(tmp_path, "reports", "monthly", "--month", "2026-11", "--csv", str(tmp_path / "nov.csv"))
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines()]
    assert "2026-11 月度统计（Asia/Shanghai）" in out.stdout
    assert ["信息总数", str(len(recs))] in lines
    for category, n in Counter(r.category for r in recs if r.category).items():
        assert [category, str(n)] in lines
    assert ["来电", "9"] in lines and ["未接", "2"] in lines
    assert ["一分钟内登记", "5/7", "(71.4%)"] in lines
    with (tmp_path / "nov.csv").open(encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    assert table[0] == ["section", "item", "value"]
    assert ["概况", "信息总数", str(len(recs))] in table

    utc_month = cli(tmp_path, "reports", "monthly", "--month", "2026-11", "--tz", "UTC")
    assert utc_month.returncode == 0 and "（UTC）" in utc_month.stdout
    bad = cli(tmp_path, "reports", "monthly", "--month", "November")
    assert bad.returncode == 2 and "2026-11" in bad.stderr
    bad_tz = cli(tmp_path, "reports", "monthly", "--month", "2026-11", "--tz", "Mars/Base")
    assert bad_tz.returncode == 2
