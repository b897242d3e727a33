"""The consumers of recordings with the S3 backend: panel playback through the web API, QA
reading the audio, and retention deleting the object (SQLite and PostgreSQL ledgers)."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.qa.retention import apply_retention
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.qa.settings import QaSettings, RetentionSettings
from callcenter.recordings.settings import RecordingSettings, StorageSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings
from tests.storage.conftest import MotoServer
from tests.storage.test_offload import wait_until


@pytest.fixture
def s3_store(tmp_path: Path, moto: MotoServer) -> Iterator[WavRecordingStore]:
    settings = RecordingSettings(root=tmp_path / "rec", storage=StorageSettings(
        backend="s3", keep_local_minutes=0, s3=moto.settings()))
    store = WavRecordingStore(settings, background_flush=False)
    yield store
    store.shutdown()


def recorded_call(ledger: LedgerService, store: WavRecordingStore, clock: ManualClock, sip_id: str) -> int:
    t = clock.now()
    pk = ledger.call_ringing(sip_id, "13800138000", "", "hotline", t)
    ledger.call_answered(sip_id)
    rec = store.open(sip_id, t)
    rec.write_caller(b"\x10\x00" * 16000, 0)
    rec.write_agent(b"\x20\x00" * 16000)
    ledger.call_ended(sip_id, "caller_hangup", rec.close())
    # the upload runs after hang-up; wait until only the object is left
    assert wait_until(lambda: not Path(rec.path).exists()), "not offloaded"
    return pk


def test_panel_plays_a_recording_kept_only_in_s3(engine: Engine, clock: ManualClock, tmp_path: Path,
                                                s3_store: WavRecordingStore, moto: MotoServer) -> None:
    bus = EventBus()
    ledger = LedgerService(engine, clock, bus)
    accounts = Accounts(engine, clock)
    accounts.add_user("clerk1", "clerk", "clerk-password")
    app = create_app(WebServices(ledger=ledger, accounts=accounts, bus=bus, recordings=s3_store,
                                 settings=WebSettings(secret_file=tmp_path / "k"),
                                 qa=QaService(engine, clock, s3_store, load_scorecard(None))))
    pk = recorded_call(ledger, s3_store, clock, "call-1")
    call = ledger.get_call(pk)
    assert moto.object_names() == ["site-a/" + call.recording_key]
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    audio = client.get(f"/api/calls/{pk}/recording")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert hashlib.sha256(audio.content).hexdigest() == call.recording_sha256 == audio.headers["x-content-sha256"]
    assert len(audio.content) == call.recording_size_bytes
    # the store unreachable and no local copy: a clear 503, not a crash mid-response
    local = Path(s3_store.local_path(call.recording_key))
    local.unlink()
    moto.stop()
    refused = client.get(f"/api/calls/{pk}/recording")
    assert refused.status_code == 503 and "录音存储暂时无法访问" in refused.json()["detail"]


def test_qa_reads_the_audio_through_the_store(engine: Engine, clock: ManualClock,
                                             s3_store: WavRecordingStore) -> None:
    ledger = LedgerService(engine, clock, EventBus())
    heard: list[str] = []

    def transcribe_agent(path: Path) -> list[Any]:  # QA hands the agent channel's file to ASR
        heard.append(hashlib.sha256(path.read_bytes()).hexdigest())
        return []

    qa = QaService(engine, clock, s3_store, load_scorecard(None), transcribe_agent=transcribe_agent)
    pk = recorded_call(ledger, s3_store, clock, "call-qa")
    qa.evidence(pk)
    assert heard == [ledger.get_call(pk).recording_sha256]


def test_retention_deletes_the_object(engine: Engine, clock: ManualClock, s3_store: WavRecordingStore,
                                      moto: MotoServer) -> None:
    ledger = LedgerService(engine, clock, EventBus())
    pk = recorded_call(ledger, s3_store, clock, "call-old")
    with Session(engine) as s:
        entry = ledger.get_entry(ledger.get_call(pk).entry_id)
        entry.status = "closed"
        s.add(entry)
        s.commit()
    clock.advance(days=40)
    settings = QaSettings(retention=RetentionSettings(keep_days=30))
    # the store is unreachable at 03:30 (same directory, an endpoint nobody listens on): nothing
    # is stamped or removed, the next run retries
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    down = WavRecordingStore(s3_store.settings.model_copy(update={"storage": StorageSettings(
        backend="s3", s3=moto.settings().model_copy(update={"endpoint_url": dead}))}), background_flush=False)
    result = apply_retention(engine, down, settings, clock)
    assert result.deleted == [] and pk in result.failed
    assert ledger.get_call(pk).recording_deleted_at is None
    key = ledger.get_call(pk).recording_key
    assert moto.object_names() == ["site-a/" + key]
    started = time.monotonic()
    result = apply_retention(engine, s3_store, settings, clock)
    assert result.deleted == [pk] and time.monotonic() - started < 10
    assert moto.object_names() == [] and not Path(s3_store.local_path(key)).exists()
    assert ledger.get_call(pk).recording_deleted_at == clock.now()
