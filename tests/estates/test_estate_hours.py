"""Each estate's business hours and holidays drive the clocks of its entries; config checks them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from callcenter.clock import ManualClock
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.estates.directory import sync_estates
from callcenter.estates.settings import EstateSettings
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.notices import NoticeBoard
from callcenter.workflow.settings import WorkflowSettings

pytestmark = pytest.mark.both_dbs


def test_a_missed_call_is_due_in_its_estates_business_hours(engine) -> None:  # type: ignore[no-untyped-def]
    # Tuesday 2026-11-10, 17:30 in Shanghai: 幸福家园 is open until 18:00 (the site's hours);
    # 和园华府 closes at 17:00, and Wednesday 11-11 is its holiday.
    at = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)
    clock = ManualClock(at)
    estates = sync_estates(engine, clock, [
        EstateSettings(code="xfjy", name="幸福家园", numbers=["8001"]),
        EstateSettings(code="hyhf", name="和园华府", numbers=["8002"], business_open="09:00",  # type: ignore[arg-type]
                       business_close="17:00", holidays=[date(2026, 11, 11)])])  # type: ignore[arg-type]
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus, estates=estates)
    workflow = CaseWorkflow(ledger, clock, WorkflowSettings(), NoticeBoard(engine, clock, bus), inline=True)
    due = {}
    for key, number in (("a", "8001"), ("b", "8002")):
        ledger.call_ringing(key, "13800138000", "", number, at)
        task = workflow.callbacks.on_missed(ledger.call_missed(key, "cancelled", at))
        assert task is not None
        due[key] = task.due_at
    assert due["a"] == datetime(2026, 11, 10, 10, 0, tzinfo=UTC)  # 18:00 the same day
    assert due["b"] == datetime(2026, 11, 12, 1, 30, tzinfo=UTC)  # Thursday 09:30, past the holiday


def test_estates_are_checked_with_messages_an_administrator_understands(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def problems(estates: list[dict[str, object]]) -> str:
        path = tmp_path / "config.yaml"
        import yaml

        path.write_text(yaml.safe_dump({"estates": estates}, allow_unicode=True), encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_settings(path)
        return str(err.value)

    a = {"code": "xfjy", "name": "幸福家园", "numbers": ["0571-8888 1234"]}
    assert "'xfjy' is already the code of estates.0" in problems([a, {**a, "numbers": ["2"]}])
    assert "'057188881234' is already a number of estate 'xfjy'" in problems(
        [a, {"code": "hyhf", "name": "和园华府", "numbers": ["057188881234"]}])
    assert "hyhf ha(s) no numbers" in problems([a, {"code": "hyhf", "name": "和园华府"}])
    assert "estates.0.code" in problems([{**a, "code": "幸福"}])
    assert "does not exist" in problems([{**a, "rules_file": str(tmp_path / "nope.yaml")}])
    assert "business_open must be before business_close" in problems(
        [{**a, "business_open": "19:00"}])
    assert "write the time in quotes" in problems([{**a, "business_close": 1080}])
    assert "estates.0.colour" in problems([{**a, "colour": "red"}])  # unknown keys are errors
    ok = Settings(estates=[a, {"code": "hyhf", "name": "和园华府", "numbers": ["hyhf-line"]}])  # type: ignore[list-item]
    assert [e.code for e in ok.configured_estates()] == ["xfjy", "hyhf"]
