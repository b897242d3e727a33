"""Each estate's own duty roster and business hours decide whom 转人工 and urgent calls ring; an
estate that sets none rings the site's (transfer.duty_roster, workflow hours)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import Engine

from callcenter.calls.desk import StaffDesk
from callcenter.calls.understanding import Understanding
from callcenter.clock import ManualClock
from callcenter.config import ConfigError, load_settings
from callcenter.drafting import DraftingRules
from callcenter.estates.directory import sync_estates
from callcenter.estates.settings import EstateSettings
from callcenter.staffing.settings import RosterMember, TransferSettings
from callcenter.workflow.settings import WorkflowSettings

SITE_ROSTER = (RosterMember(name="总值班", number="8000"),)
B_ROSTER = (RosterMember(name="和园保安室", number="8201", shifts=("18:00-08:00",)),
            RosterMember(name="和园值班工程师", number="13900000002"))


def _desk(engine: Engine, now: datetime) -> tuple[StaffDesk, int, int]:
    clock = ManualClock(now)
    estates = sync_estates(engine, clock, [
        EstateSettings(code="xfjy", name="幸福家园", numbers=["8001"]),
        EstateSettings(code="hyhf", name="和园华府", numbers=["8002"], duty_roster=B_ROSTER,
                       business_open=time(9, 0), business_close=time(17, 0))])
    desk = StaffDesk(Understanding(DraftingRules.load()),
                     TransferSettings(extensions=("8101",), duty_roster=SITE_ROSTER),
                     WorkflowSettings(business_open=time(8, 0), business_close=time(18, 0)),
                     now=clock.now, estates=estates)
    return desk, estates.id_for_number("8001"), estates.id_for_number("8002")


def test_each_estate_rings_its_own_roster(engine: Engine) -> None:
    # Tuesday 2026-11-10, 08:30 in Shanghai: the site is open (08:00), 和园华府 not yet (09:00)
    desk, a, b = _desk(engine, datetime(2026, 11, 10, 0, 30, tzinfo=UTC))
    assert desk.numbers_for("person", a) == ["8101"]  # 幸福家园 in its hours: the clerks
    assert desk.numbers_for("person", b) == ["13900000002"]  # 和园华府 closed: its roster on shift now
    assert desk.numbers_for("urgent", a) == ["8000"]  # urgent: the site's roster
    assert desk.numbers_for("urgent", b) == ["13900000002"]  # ...and 和园华府's own
    assert desk.numbers_for("urgent") == ["8000"]  # no estate known: the site's
    # 20:00: both closed; 和园华府's guard room is on its night shift
    night, a, b = _desk(engine, datetime(2026, 11, 10, 12, 0, tzinfo=UTC))
    assert night.numbers_for("person", a) == ["8000"]
    assert night.numbers_for("person", b) == ["8201", "13900000002"]


def test_an_estate_roster_is_checked_like_the_sites(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("estates:\n  - code: hyhf\n    name: 和园华府\n    numbers: ['8002']\n    duty_roster:\n"
                    "      - {name: 保安室, number: '82 01'}\n", encoding="utf-8")
    try:
        load_settings(path)
    except ConfigError as exc:
        assert "number" in str(exc) and "estates" in str(exc)
    else:
        raise AssertionError("a roster number with a space was accepted")
