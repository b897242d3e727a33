"""The transcription job queue on a real PostgreSQL: deferring marks the transcript queued, one job
waits per call, a worker's job transcribes and drafts from the shared recording, a repeated job does
nothing, and a job that keeps failing leaves the transcript 'failed'."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.app import Application
from callcenter.config import Settings
from callcenter.scale import jobs
from callcenter.scale.roles import QueuedTranscriber


def _recorded_call(app: Application, key: str, pcm16: bytes) -> None:
    """A finished inbound call with a real recording (caller speech on the left channel)."""
    now = datetime.now(UTC)
    app.ledger.call_ringing(key, "13800138000", "", "hotline", now)
    app.ledger.call_answered(key)
    recorder = app.recordings.open(key, now)
    for i in range(0, len(pcm16), 320):
        recorder.write_caller(pcm16[i:i + 320], i // 2)
        recorder.write_agent(b"\0" * 320)
    app.ledger.call_ended(key, "caller_hangup", recorder.close())


@pytest.fixture
def worker_app(pg_clean: str, ko_model_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(database={"url": pg_clean}, recording={"root": str(tmp_path / "rec")},  # type: ignore[arg-type]
                        web={"secret_file": str(tmp_path / "secret.key")},  # type: ignore[arg-type]
                        asr={"mode": "queue", "model_dir": str(ko_model_dir), "workers": 1})  # type: ignore[arg-type]
    app = Application(settings, role="worker")
    yield app
    app.stop()


def test_defer_once_then_transcribe_and_draft_idempotently(worker_app: Application, speak) -> None:  # type: ignore[no-untyped-def]
    app = worker_app
    assert app.queue is not None
    _recorded_call(app, "q-1@test", speak("楼道的灯坏了，请派人来修。"))
    transcriber = QueuedTranscriber(app.transcriber, app.queue, app.ledger)
    assert transcriber.enqueue_call("q-1@test") is True
    assert app.ledger.call_by_key("q-1@test").transcript_status == "queued"
    assert app.queue.enqueue("q-1@test") is False  # one waiting job per call
    assert jobs.queue_depth(app.engine) == jobs.QueueDepth(todo=1, doing=0, failed=0)
    assert jobs.pending_call_ids(app.engine) == {"q-1@test"}
    status = app.system_status()
    assert status["backlog"] == 1 and status["queue"] == {"todo": 1, "doing": 0, "failed": 0}

    assert app.transcribe_call("q-1@test") == "done"  # what the job runs in a worker
    call = app.ledger.call_by_key("q-1@test")
    assert call.transcript_status == "done" and call.transcript_engine
    assert call.entry_id is not None and app.ledger.get_entry(call.entry_id).draft_ready_at is not None
    assert app.transcribe_call("q-1@test") == "already done"  # a repeated job changes nothing
    assert app.system_status()["backlog"] == 0


def test_a_failing_job_marks_the_transcript_failed_on_its_last_attempt(worker_app: Application, speak) -> None:  # type: ignore[no-untyped-def]
    app = worker_app
    _recorded_call(app, "q-2@test", speak("电梯坏了。"))
    app.ledger.set_transcript("q-2@test", None, "queued")
    os.unlink(app.recordings.path_of(app.ledger.call_by_key("q-2@test").recording_key))  # storage lost it
    with pytest.raises(Exception):  # noqa: B017  (whatever reading a missing file raises)
        app.transcribe_call("q-2@test", last_attempt=False)
    assert app.ledger.call_by_key("q-2@test").transcript_status == "queued"  # retried later
    with pytest.raises(Exception):  # noqa: B017
        app.transcribe_call("q-2@test", last_attempt=True)
    assert app.ledger.call_by_key("q-2@test").transcript_status == "failed"
    status = app.system_status()
    assert status["failed"] == 1 and status["warn"] is True


def test_a_bridged_calls_job_transcribes_the_clerks_span_once(worker_app: Application, speak) -> None:  # type: ignore[no-untyped-def]
    """A call bridged to a clerk whose caller side is already done (the live recognizer heard it):
    still one job, which transcribes the right channel's span only, in a worker process with the
    real model, word times on the recording's timeline; a repeated job changes nothing."""
    app = worker_app
    assert app.queue is not None
    key, now = "q-3@test", datetime.now(UTC)
    clerk = speak("您好，我是物业客服，马上派人过去。")
    prompt = speak("请稍候。")  # the agent's own prompt before the bridge: not the clerk's
    app.ledger.call_ringing(key, "13800138000", "", "hotline", now)
    app.ledger.call_answered(key)
    recorder = app.recordings.open(key, now)
    right = prompt + bytes(16000 * 2) + clerk + bytes(8000)  # prompt, 2 s of ringing, the clerk
    for i in range(0, len(right), 320):
        recorder.write_caller(b"\0" * 320, i // 2)
        recorder.write_agent(right[i:i + 320])
    app.ledger.call_ended(key, "caller_hangup", recorder.close())
    app.ledger.set_transcript(key, None, "done")  # the caller's side came from the live stream
    span = (len(prompt) / 16000 + 1.0, len(right) / 16000)
    app.ledger.set_clerk_spans(key, [span])

    transcriber = QueuedTranscriber(app.transcriber, app.queue, app.ledger)
    assert transcriber.enqueue_call(key) is True  # the clerk's side is owed
    assert app.ledger.call_by_key(key).transcript_status == "done"  # the caller's is left alone
    assert app.transcribe_call(key) == "already done; clerk done"
    call = app.ledger.call_by_key(key)
    assert call.clerk_transcript_status == "done" and call.clerk_transcript_text
    words = call.clerk_transcript_words or []
    assert words and all(span[0] <= w["start_s"] < w["end_s"] <= span[1] + 0.05 for w in words), words
    assert min(w["start_s"] for w in words) >= len(prompt) / 16000 + 2.0 - 0.3  # the clerk, not the prompt
    assert app.transcribe_call(key) == "already done"
    assert transcriber.enqueue_call(key) is False  # nothing owed: no second job
    assert app.ledger.call_by_key(key).clerk_transcript_words == words
