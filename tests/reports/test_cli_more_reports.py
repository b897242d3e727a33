"""`callcenter reports weekly|unfinished|complaints` with --xlsx/--html, as an administrator runs them."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.cli_runner import cli
from tests.reports.world import build


def test_complaints_weekly_and_unfinished_write_files(tmp_path: Path, db_url: str) -> None:
    url = db_url
    (tmp_path / "config.yaml").write_text(
        f"database:\n  url: {url}\nasr:\n  model_dir: {tmp_path}/models/m\n", encoding="utf-8")
    db.upgrade(url)
    engine = db.make_engine(url)
    clock = ManualClock()
    build(engine, LedgerService(engine, clock, EventBus()), clock)
    engine.dispose()

    out = cli(tmp_path, "reports", "complaints", "--month", "2026-11", "--xlsx", str(tmp_path / "c.xlsx"),
              "--html", str(tmp_path / "c.html"))
    assert out.returncode == 0, out.stderr
    assert "10-27至11-26" in out.stdout and "【投诉量化】" in out.stdout
    assert load_workbook(tmp_path / "c.xlsx")["投诉量化"]["A2"].value == "投诉总数"
    assert "<svg" in (tmp_path / "c.html").read_text(encoding="utf-8")
    weekly = cli(tmp_path, "reports", "weekly", "--week", "2026-W45")
    assert weekly.returncode == 0 and "每周热点投诉 · 2026-W45" in weekly.stdout
    half = cli(tmp_path, "reports", "unfinished", "--half", "2026-11-H2", "--xlsx", str(tmp_path / "u.xlsx"))
    assert half.returncode == 0 and (tmp_path / "u.xlsx").exists()
    monthly = cli(tmp_path, "reports", "monthly", "--month", "2026-11", "--html", str(tmp_path / "m.html"))
    assert monthly.returncode == 0 and "回访" in (tmp_path / "m.html").read_text(encoding="utf-8")
    assert cli(tmp_path, "reports", "weekly", "--week", "45").returncode == 2
