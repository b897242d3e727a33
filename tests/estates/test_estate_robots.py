"""Each estate's robots hear of its own entries only; a robot no estate names hears everything."""

from __future__ import annotations

import dataclasses

import pytest

from callcenter.config import Settings
from callcenter.estates.settings import EstateSettings, robots_of
from callcenter.notify.base import Dispatcher, NoticeFilter, RecordingNotifier
from callcenter.workflow.notices import NoticeBoard
from tests.estates.conftest import A_NUMBER, B_DIALLED, TwoEstates

pytestmark = pytest.mark.both_dbs


def test_notices_go_to_the_robots_of_their_estate(two_estates: TwoEstates) -> None:
    t = two_estates
    configured = [EstateSettings(code="xfjy", name="幸福家园", numbers=["8001"], robots=["xfjy-duty"]),
                  EstateSettings(code="hyhf", name="和园华府", numbers=["8002"], robots=["hyhf-duty", "shared"]),
                  EstateSettings(code="zz", name="紫竹苑", numbers=["8003"], robots=["shared"])]
    ids = {"xfjy": t.a.id, "hyhf": t.b.id, "zz": 99}
    robots = robots_of(configured, ids)
    assert robots == {"xfjy-duty": {t.a.id}, "hyhf-duty": {t.b.id}, "shared": {t.b.id, 99}}
    sinks = {name: RecordingNotifier(name) for name in ("xfjy-duty", "hyhf-duty", "shared", "company")}
    dispatcher = Dispatcher()
    for name, sink in sinks.items():
        dispatcher.add(sink, dataclasses.replace(NoticeFilter(), estates=robots.get(name, frozenset())))
    board = NoticeBoard(t.engine, t.clock, t.bus, outside=dispatcher)
    for key, number in (("a", A_NUMBER), ("b", B_DIALLED)):
        t.ledger.call_ringing(key, "13800138000", "", number, t.clock.now())
    a_entry, b_entry = t.ledger.call_missed("a", "cancelled"), t.ledger.call_missed("b", "cancelled")
    board.post("missed_call", "幸福家园 未接来电", entry_id=a_entry)
    board.post("missed_call", "和园华府 未接来电", entry_id=b_entry)
    board.post("overdue", "系统：录音磁盘空间不足")  # about no entry: every robot
    assert dispatcher.close(timeout=10)
    heard = {name: [n.title for n in sink.notices] for name, sink in sinks.items()}
    assert heard["xfjy-duty"] == ["幸福家园 未接来电", "系统：录音磁盘空间不足"]
    assert heard["hyhf-duty"] == heard["shared"] == ["和园华府 未接来电", "系统：录音磁盘空间不足"]
    assert len(heard["company"]) == 3


def test_an_estate_names_only_configured_robots() -> None:
    hook = {"name": "duty", "kind": "generic", "url": "http://127.0.0.1:9/hook"}
    with pytest.raises(ValueError, match="estates.0.robots: dutty is not the name of a robot"):
        Settings(notify={"webhooks": [hook]},  # type: ignore[arg-type]
                 estates=[{"code": "xfjy", "name": "幸福家园", "robots": ["dutty"]}])  # type: ignore[list-item]
    Settings(notify={"webhooks": [hook]},  # type: ignore[arg-type]
             estates=[{"code": "xfjy", "name": "幸福家园", "robots": ["duty"]}])  # type: ignore[list-item]
