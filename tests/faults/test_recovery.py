"""Start-up recovery of what a kill -9 can leave between the recorder and the ledger."""

from __future__ import annotations

import hashlib
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.asr.pool import TranscriptionPool
from callcenter.asr.settings import AsrSettings
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import PromptSettings, VadSettings
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


def test_a_finished_recording_whose_end_was_never_logged_is_linked_at_start(
        db_url: str, tmp_path: Path, prompt_settings: PromptSettings) -> None:
    db.upgrade(db_url)
    ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "recordings"))
    handler = HotlineHandler(ledger=ledger, recordings=store,
                             transcriber=TranscriptionPool(AsrSettings(model_dir=tmp_path / "no-model")),
                             prompts=PromptLibrary(prompt_settings), drafter=CallDrafter(ledger, DraftingRules.load()),
                             vad=VadSettings(), flow=FlowSettings(), clock=SystemClock())
    received = datetime.now(UTC) - timedelta(minutes=5)
    for call_id in ("cut-after-close", "cut-while-open", "ended-normally"):
        ledger.call_ringing(call_id, "13800138000", "", "8001", received)
        ledger.call_answered(call_id, at=received + timedelta(seconds=2))
    # the killed process had finished one recording (journal removed) but not logged its end,
    recorder = store.open("cut-after-close", received + timedelta(seconds=1, milliseconds=700))
    for n in range(150):
        recorder.write_caller(b"\x10\x00" * 160, n * 160)
    info = recorder.close()
    # was still writing another (its journal is the store's to repair: left alone here),
    store.open("cut-while-open", received + timedelta(seconds=2)).write_caller(b"\x00\x00" * 160, 0)
    # and had logged the third one properly
    done = store.open("ended-normally", received + timedelta(seconds=2))
    ledger.call_ended("ended-normally", "caller_hangup", done.close(), at=received + timedelta(seconds=9))

    assert handler.relink_unlogged_recordings() == 1
    call = ledger.call_by_key("cut-after-close")
    assert call.status == "interrupted" and call.recording_key == info.key
    assert call.recording_sha256 == info.sha256 == hashlib.sha256(
        Path(store.path_of(info.key)).read_bytes()).hexdigest()
    assert call.recording_duration_ms == info.duration_ms and call.recording_size_bytes == info.size_bytes
    assert ledger.get_entry(call.entry_id or 0).interrupted
    with wave.open(store.path_of(info.key)) as w:
        assert w.getnframes() * 1000 // 8000 == call.recording_duration_ms
    assert ledger.call_by_key("cut-while-open").status == "answered"  # for recordings.recover()
    assert ledger.call_by_key("ended-normally").status == "ended"
    assert handler.relink_unlogged_recordings() == 0  # nothing twice
    store.shutdown()
