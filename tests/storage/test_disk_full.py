"""Disk nearly full, on a real small file system (tmpfs): a clear alarm (log line, panel event,
notice for clerks and supervisors) once per change of state; calls still answered and logged
with the recording kept as far as it got; SQLite on a full disk fails cleanly, without damage."""

from __future__ import annotations

import hashlib
import logging
import time
import wave
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from callcenter.asr.pool import TranscriptionPool
from callcenter.asr.settings import AsrSettings
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import PromptSettings, VadSettings
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import FlowSettings
from callcenter.calls.hotline import HotlineHandler
from callcenter.clock import ManualClock, SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import Event, EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Notification
from callcenter.ledger.service import LedgerService
from callcenter.recordings.disk_monitor import DiskMonitor, Watch
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.workflow.notices import NoticeBoard
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline, prompt_settings, speak  # noqa: F401  (fixtures)
from tests.storage.smalldisk import fill, free_bytes, is_disk_full, small_disk

MB = 1024 * 1024


def alarms(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    bus.add_listener(lambda ev: seen.append(ev) if ev.type == "system.alarm" else None)
    return seen


def test_alarm_once_per_state_change_for_clerks_and_supervisors(engine: Engine, clock: ManualClock,
                                                                tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    events = alarms(bus)
    notices = NoticeBoard(engine, clock, bus)
    caplog.set_level(logging.INFO, logger="callcenter.recordings.disk_monitor")
    with small_disk(tmp_path / "rec", "8m") as disk:
        monitor = DiskMonitor([Watch("录音磁盘", disk, 4)], bus, notices)
        assert [s.level for s in monitor.check()] == ["ok"] and events == []
        filler = fill(disk, 3 * MB)
        for _ in range(3):  # every tick sees it; only the first one tells
            assert [s.level for s in monitor.check()] == ["low"]
        fill(disk, MB // 2)
        assert [s.level for s in monitor.check()] == ["critical"]
        filler.unlink()
        assert [s.level for s in monitor.check()] == ["ok"]
    assert [(e.data["level"], e.data["disk"]) for e in events] == [
        ("low", "录音磁盘"), ("critical", "录音磁盘"), ("ok", "录音磁盘")]
    assert events[0].data["free_mb"] == pytest.approx(3, abs=0.1)
    for role in ("clerk", "supervisor"):
        titles = [n.title for n in reversed(notices.for_role(role))]
        assert titles == ["录音磁盘空间不足：剩余 3.0 MB", "录音磁盘空间不足：剩余 0.5 MB", "录音磁盘空间已恢复：剩余 8.0 MB"]
    severities = [n.severity for n in reversed(notices.for_role("clerk"))]
    assert severities == ["warning", "critical", "info"]
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "callcenter.recordings.disk_monitor"]
    assert [lvl for lvl, _ in records] == ["WARNING", "ERROR", "INFO"]
    assert "nearly full: 3.0 MB free" in records[0][1]


@pytest.mark.sip
def test_calls_on_a_full_recordings_disk_are_answered_and_logged(  # type: ignore[no-untyped-def]
        agent_factory, kamailio, prompt_settings: PromptSettings, speak, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    db.upgrade(db_url)  # the ledger is NOT on the small disk
    engine = db.make_engine(db_url)
    bus = EventBus()
    events = alarms(bus)
    ledger = LedgerService(engine, SystemClock(), bus)
    notices = NoticeBoard(engine, SystemClock(), bus)
    pool = TranscriptionPool(AsrSettings(model_dir=tmp_path / "no-model", workers=1))
    pool.start()
    with small_disk(tmp_path / "rec", "4m") as disk:
        store = WavRecordingStore(RecordingSettings(root=disk, min_free_mb=2))
        monitor = DiskMonitor([Watch("录音磁盘", disk, 2)], bus, notices)
        try:
            handler = HotlineHandler(ledger=ledger, recordings=store, transcriber=pool,
                                     prompts=PromptLibrary(prompt_settings),
                                     drafter=CallDrafter(ledger, DraftingRules.load()),
                                     vad=VadSettings(no_input_timeout_s=2.0, end_silence_ms=600),
                                     flow=FlowSettings(), clock=SystemClock())
            agent, sip = agent_factory(handler)
            p = Pipeline(ledger, store, pool, handler, sip, tmp_path / "sipp", None,
                         sip_target_port=kamailio.port, agent=agent)
            speech = speak("楼道的灯坏了")
            steps = [("speak", speech), ("pause", len(speech) // 16 + 3000)]

            # 1) nearly full: ~56 KB for audio, under 2 s of stereo 8 kHz; the alarm is up
            fill(disk, 64 * 1024)
            monitor.check()
            assert [e.data["level"] for e in events] == ["critical"]
            result = p.call(caller_scenario(tmp_path / "nearly.xml", steps))
            assert result.returncode == 0, result.explain()
            calls = p.wait_for(lambda cs: len(cs) == 1 and cs[0].status == "ended")
            partial = calls[0]
            # 2) full to the last block: the recording cannot even start
            fill(disk, 0)
            assert free_bytes(disk) == 0
            result = p.call(caller_scenario(tmp_path / "full.xml", steps))
            assert result.returncode == 0, result.explain()
            calls = p.wait_for(lambda cs: len(cs) == 2 and all(c.status == "ended" for c in cs))
            monitor.check()  # still critical: not told again
        finally:
            store.shutdown()
            pool.shutdown(wait=False)
        unrecorded = next(c for c in calls if c.id != partial.id)
        # the first call: answered, logged, its recording marked interrupted and playable as far as it got
        assert partial.answered_at is not None and partial.end_reason == "caller_hangup"
        assert partial.recording_key and partial.recording_interrupted
        path = Path(store.path_of(partial.recording_key))
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == partial.recording_sha256
        assert len(data) == partial.recording_size_bytes
        with wave.open(str(path)) as w:  # the header matches the data: not a torn file
            assert w.getnchannels() == 2 and 44 + w.getnframes() * 4 == len(data)
            assert 0 < w.getnframes() / 8000 < 2.0
        assert not list(disk.rglob("*.open"))  # no journal left: nothing for recover() to repair
        # the second: answered and logged without a recording
        assert unrecorded.answered_at is not None and unrecorded.status == "ended"
        assert unrecorded.recording_key == "" and unrecorded.recording_sha256 == ""
        for call in (partial, unrecorded):  # each has its draft entry in the ledger
            assert call.entry_id is not None and ledger.get_entry(call.entry_id).id == call.entry_id
    assert [e.data["level"] for e in events] == ["critical"]
    assert [n.title for n in notices.for_role("clerk")][0].startswith("录音磁盘空间不足：剩余 0.")
    engine.dispose()


def test_sqlite_on_a_full_disk_fails_cleanly_and_stays_intact(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    with small_disk(tmp_path / "db", "8m") as disk:
        url = f"sqlite:///{disk}/ledger.db"
        db.upgrade(url)
        engine = db.make_engine(url)
        clock = ManualClock()
        bus = EventBus()
        events = alarms(bus)
        board = NoticeBoard(engine, clock, bus)
        committed = [board.post("test", f"通知 {i}", "x" * 200) for i in range(50)]
        fill(disk, 0)
        failures = 0
        for i in range(2000):  # every write until the database cannot grow any more
            try:
                committed.append(board.post("test", f"满盘 {i}", "y" * 2000))
            except OperationalError as exc:
                assert is_disk_full(exc), exc
                failures += 1
                if failures >= 3:
                    break
        assert failures >= 3, "writes kept succeeding on a full disk"
        # the disk alarm itself still gets out (event + log) though its notice row cannot be stored
        monitor = DiskMonitor([Watch("数据库磁盘", disk, 1)], bus, board)
        caplog.set_level(logging.ERROR, logger="callcenter.recordings.disk_monitor")
        assert [s.level for s in monitor.check()] == ["critical"]
        assert [e.data["disk"] for e in events] == ["数据库磁盘"]
        assert any("notice not stored" in r.getMessage() for r in caplog.records)
        # (while the disk is full even a read may fail: a new connection must recreate the WAL index)
        (disk / "filler.bin").unlink()  # space comes back
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        with Session(engine) as s:  # exactly the committed rows: none lost, no failed one half-written
            rows = s.exec(select(Notification).order_by(Notification.id)).all()
            assert [r.id for r in rows] == committed
            assert all(len(r.body) in (200, 2000) for r in rows)
        board.post("test", "恢复后")
        with Session(engine) as s:
            assert len(s.exec(select(Notification)).all()) == len(committed) + 1
        engine.dispose()


def test_the_scheduled_check_raises_the_alarm_at_start(engine: Engine, clock: ManualClock, tmp_path: Path) -> None:
    """The app's wiring (register_storage_jobs): the first check runs as the scheduler starts."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from callcenter.recordings.jobs import register_storage_jobs

    bus = EventBus()
    events = alarms(bus)
    scheduler = BackgroundScheduler()
    with small_disk(tmp_path / "rec", "8m") as disk:
        fill(disk, 2 * MB)
        settings = RecordingSettings(root=disk, min_free_mb=5, disk_check_s=5)
        store = WavRecordingStore(settings)
        monitor = register_storage_jobs(scheduler, store, settings, "sqlite:///" + str(tmp_path / "l.db"),
                                        bus, NoticeBoard(engine, clock, bus))
        assert [w.name for w in monitor.watches] == ["录音磁盘", "数据库磁盘"]
        assert {j.id for j in scheduler.get_jobs()} == {"disk_space"}  # no upload job for local storage
        scheduler.start()
        try:
            deadline = time.monotonic() + 10
            while not events and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            scheduler.shutdown(wait=True)
            store.shutdown()
    assert [(e.data["disk"], e.data["level"]) for e in events] == [("录音磁盘", "low")]


def test_a_callback_is_not_dialled_unrecorded_and_its_logged_call_is_closed(engine: Engine, clock: ManualClock,
                                                                            tmp_path: Path) -> None:
    from callcenter.calls.callback_dialer import CallbackDialer
    from callcenter.ledger.service import LedgerError
    from callcenter.workflow.callback_tasks import CallbackTasks
    from callcenter.workflow.settings import WorkflowSettings

    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    ledger.call_ringing("missed-1", "13800138000", "", "hotline", clock.now())
    ledger.call_missed("missed-1", "caller_cancel")
    entry_id = ledger.call_by_key("missed-1").entry_id
    assert entry_id is not None
    tasks = CallbackTasks(ledger, clock, WorkflowSettings(), NoticeBoard(engine, clock, bus))
    task = tasks.on_missed(entry_id)
    assert task is not None and task.id is not None
    with small_disk(tmp_path / "rec", "4m") as disk:
        store = WavRecordingStore(RecordingSettings(root=disk))
        fill(disk, 0)
        # the agent is never reached: the recording is opened before the first leg rings
        dialer = CallbackDialer(None, ledger, store, tasks, clock)  # type: ignore[arg-type]
        with pytest.raises(LedgerError, match="录音无法开始"):
            dialer.place(task.id, "8001", "wang", None)
        store.shutdown()
        assert not [p for p in disk.rglob("*") if p.is_file() and p.name != "filler.bin"]  # no torn WAV
    outbound = [c for c in ledger.calls_of_entry(entry_id) if c.direction == "outbound"]
    assert [(c.status, c.end_reason, c.recording_key) for c in outbound] == [("ended", "callback_not_recorded", "")]
    assert tasks.get(task.id).status == "open" and tasks.get(task.id).attempts == 0
