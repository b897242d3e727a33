"""PostgreSQL goes down during a call in queue mode (asr.mode: queue, transcription deferred to the
job queue): the caller's BYE is answered at once, the handler does not fail, the transcription job
waits in the outbox with the call's other writes, and when the server is back the call is logged
with the time the caller hung up (not the time the write succeeded) and its job is queued."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from callcenter.asr.pool import TranscriptionPool
from callcenter.asr.settings import AsrSettings
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import VadSettings
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import FlowSettings
from callcenter.calls.hotline import HotlineHandler
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.scale.jobs import TranscriptionQueue, install_schema
from callcenter.scale.roles import QueuedTranscriber
from tests.calls.callers import caller_scenario
from tests.faults.test_db_down import PgServer, own_pg  # noqa: F401  (the module's own server)
from tests.sipbench.sipp import start_sipp

pytestmark = [pytest.mark.sip, pytest.mark.only_db("postgresql")]


@pytest.fixture
def queue_db(own_pg: str) -> Iterator[str]:  # noqa: F811
    eng = create_engine(own_pg)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    db.upgrade(own_pg)
    install_schema(own_pg)
    yield own_pg


def test_outage_mid_call_with_transcription_queued(queue_db: str, agent_factory, kamailio,  # type: ignore[no-untyped-def]
                                                   prompt_settings, speak, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    server = PgServer(queue_db)
    ledger = LedgerService(db.make_engine(queue_db), SystemClock(), EventBus())
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "recordings"))
    pool = TranscriptionPool(AsrSettings(model_dir=tmp_path / "no-model", max_live_streams=0, workers=1))
    queue = TranscriptionQueue(queue_db)
    handler = HotlineHandler(
        ledger=ledger, recordings=store, transcriber=QueuedTranscriber(pool, queue, ledger),
        prompts=PromptLibrary(prompt_settings), drafter=CallDrafter(ledger, DraftingRules.load()),
        vad=VadSettings(no_input_timeout_s=30, end_silence_ms=600), flow=FlowSettings(), clock=SystemClock())
    _, sip = agent_factory(handler)
    speech = speak("我家卫生间下水道堵了")
    scenario = caller_scenario(tmp_path / "outage.xml", [("pause", 1000), ("speak", speech),
                                                         ("pause", len(speech) // 16 + 3000)], caller="13800138000")
    caplog.set_level(logging.ERROR, logger="callcenter")
    try:
        sipp = start_sipp(str(scenario), kamailio.port, tmp_path / "sipp", service=sip.username, timeout_s=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any((tmp_path / "recordings").rglob("*.wav.open")):
            time.sleep(0.05)
        time.sleep(1.0)
        [answered] = ledger.list_calls()
        assert answered.status == "answered"
        server.stop()  # down while the caller speaks, hangs up, and the call is written
        out, err = sipp.communicate(timeout=60)
        hung_up = datetime.now(UTC)  # SIPp exits on the 200 OK to its BYE
        assert sipp.returncode == 0, f"{out[-2000:]}\n{err[-2000:]}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (any((tmp_path / "recordings").rglob("*.open"))
                                               or handler.outbox.pending() < 3):
            time.sleep(0.1)
        pending = handler.outbox.pending()
        assert pending >= 3, pending  # the end, the draft and the transcription job at least
        time.sleep(3)  # what a late write would have been
        server.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and handler.outbox.pending():
            time.sleep(0.2)
        assert handler.outbox.pending() == 0 and handler.outbox.dead == 0
        call = ledger.call_by_key(answered.sip_call_id)
        assert call.status == "ended" and call.end_reason == "caller_hangup"
        assert call.ended_at is not None
        lag = (hung_up - call.ended_at).total_seconds()
        print(f"end time {lag:.3f} s before SIPp had the 200 OK to its BYE and exited")
        assert 0 <= lag < 1.0, lag  # the BYE's time, answered at once (not the replay's time)
        assert call.recording_key and call.recording_sha256
        assert ledger.get_entry(call.entry_id or 0).draft_ready_at is not None
        assert call.transcript_status == "queued"
        eng = create_engine(queue_db)
        with eng.connect() as conn:
            jobs = conn.execute(text("SELECT status::text FROM procrastinate_jobs "
                                     "WHERE args->>'sip_call_id' = :c"), {"c": call.sip_call_id}).scalars().all()
        eng.dispose()
        assert jobs == ["todo"], jobs  # one job, deferred through the outbox, waiting for a worker
        # the handler did not fail, and the ledger took every write in the end
        messages = [r.getMessage() for r in caplog.records]
        assert not [m for m in messages if "on_call failed" in m or "the ledger refused" in m], messages
    finally:
        queue.close()
        pool.shutdown(wait=False)
        store.shutdown()
        ledger.engine.dispose()
