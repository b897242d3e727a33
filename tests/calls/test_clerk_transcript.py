"""Both channels of a bridged call are transcribed: the caller's as before, and the clerk's (right
channel) for the bridged span only — not the agent's prompts before it. On the in-process call
double with the real recorder; the transcriber is the scripted double (Vosk cannot hear tones),
cutting the span with the pool's own code. Stored apart from the caller's transcript (drafting
never hears it), labelled 坐席 for QA, and a repeated job adds nothing."""

from __future__ import annotations

import wave
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from callcenter.asr.interface import ModelUnavailable, Transcript
from callcenter.calls.transcription import CallTranscription
from callcenter.qa.dialogue import SPEAKERS, dialogue
from callcenter.qa.evidence import words_from_json
from tests.calls.conftest import HotlineDouble
from tests.calls.test_bridge_recording import WINDOW, where, windows_of
from tests.calls.test_person_on_the_line import clerk, tone
from tests.doubles import Keys, PhoneDouble, Say, ScriptedFactoryDouble, TranscriberDouble

pytestmark = pytest.mark.both_dbs

CALLER_HZ, CALLER_BRIDGED_HZ, CLERK_HZ = 400, 1400, 1100
CALLER_SAYS, CLERK_SAYS = "楼道灯坏了", "好的马上派电工过去"


def bridged_call(hotline_double, **kw):  # type: ignore[no-untyped-def]
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([CALLER_SAYS, CLERK_SAYS]), phones={
        "8101": PhoneDouble(answer_after_s=0.05, talk=tone(CLERK_HZ, 1.5), hangup_after_s=0.6)}, **kw)
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.0), then_silence_ms=200), Keys("0")]]},
                  talk_when_bridged=tone(CALLER_BRIDGED_HZ, 1.0))
    assert "transfer_wait" in call.heard
    return h, call


def right_channel(h: HotlineDouble, key: str) -> np.ndarray:
    with wave.open(str(Path(h.store.path_of(key)))) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)[:, 1].astype(float)


def clerk_submissions(h: HotlineDouble) -> list[tuple[Path, int, float, float | None]]:
    return [s for s in h.transcriber.submitted if s[1] == 1]


class Blocking:
    """The worker's FileTranscriber over the in-process double (the pool's transcribe_file)."""

    def __init__(self, double: TranscriberDouble) -> None:
        self.double = double

    def transcribe_file(self, wav_path: Path, channel: int = 0, start_s: float = 0.0,
                        end_s: float | None = None) -> Transcript:
        return self.double.submit_file(wav_path, channel, start_s, end_s).result()


def test_the_clerks_span_of_the_right_channel_is_transcribed_and_labelled(hotline_double) -> None:  # type: ignore[no-untyped-def]
    h, call = bridged_call(hotline_double)
    logged = h.logged(call)
    path = Path(h.store.path_of(logged.recording_key))
    [(submitted_path, channel, start, end)] = clerk_submissions(h)
    assert (submitted_path, channel) == (path, 1)
    assert end is not None and start < end
    assert logged.clerk_spans == [[pytest.approx(start, abs=1e-3), pytest.approx(end, abs=1e-3)]]

    # the span starts after the agent's own prompts (「请稍候」 is not the clerk's) and holds the clerk
    right = right_channel(h, logged.recording_key)
    transfer_wait = where(right, h.prompts.get("transfer_wait"))
    assert transfer_wait >= 0
    assert transfer_wait / 8000 < start
    clerk_on = windows_of(right, CLERK_HZ)
    assert len(clerk_on) >= 12  # 1.5 s of the clerk's tone
    assert start <= clerk_on[0] * WINDOW / 8000 and (clerk_on[-1] + 1) * WINDOW / 8000 <= end + 0.01

    # stored apart, with times on the recording's timeline; the caller's transcript is untouched
    assert logged.clerk_transcript_status == "done"
    assert logged.clerk_transcript_text == CLERK_SAYS
    words = words_from_json(logged.clerk_transcript_words)
    assert "".join(w.text for w in words) == CLERK_SAYS
    assert all(start - 1e-6 <= w.start_s < w.end_s <= end + 1e-6 for w in words)
    assert logged.transcript_text == CALLER_SAYS
    # drafting keeps to the caller's words: nothing of the clerk's reaches the entry
    entry = h.ledger.get_entry(logged.entry_id)
    assert "派电工" not in entry.summary and "灯" in entry.summary

    # QA's view: both speakers, interleaved by time, the clerk's lines labelled 坐席
    lines = dialogue(words_from_json(logged.transcript_words), words)
    assert [line.start_s for line in lines] == sorted(line.start_s for line in lines)
    assert {line.speaker for line in lines} == {"caller", "clerk"}
    assert [line.text for line in lines if line.label == SPEAKERS["clerk"] == "坐席"] == [CLERK_SAYS]


def test_a_call_without_a_bridge_gets_no_clerk_transcript(hotline_double) -> None:  # type: ignore[no-untyped-def]
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([CALLER_SAYS]), phones={})
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.5))]]})
    logged = h.logged(call)
    assert logged.recording_key and logged.transcript_status == "done"
    assert clerk_submissions(h) == []
    assert (logged.clerk_spans, logged.clerk_transcript_status, logged.clerk_transcript_words) == (None, "", None)


def test_nobody_answering_is_no_bridge(hotline_double) -> None:  # type: ignore[no-untyped-def]
    h: HotlineDouble = hotline_double(recognizer=ScriptedFactoryDouble([CALLER_SAYS]),
                                      phones={"8101": PhoneDouble(fails="busy")})
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.0), then_silence_ms=200), Keys("0")]]})
    assert "transfer_failed" in call.heard and h.dialer is not None and h.dialer.dialled
    assert clerk_submissions(h) == [] and h.logged(call).clerk_transcript_status == ""


def test_the_job_transcribes_the_clerk_side_once(hotline_double, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No model for recordings at the time (the live stream heard the caller): the clerk's side is
    owed; the worker's job does it, and a second run of the job changes nothing."""
    h, call = None, None
    recognizer = ScriptedFactoryDouble([CALLER_SAYS, CLERK_SAYS])
    h = hotline_double(recognizer=recognizer, phones={
        "8101": PhoneDouble(answer_after_s=0.05, talk=tone(CLERK_HZ, 1.5), hangup_after_s=0.6)})
    clerk(h, "wang", "8101")
    working = h.transcriber.submit_file

    def no_model(*_a: object, **_k: object) -> Future[Transcript]:
        raise ModelUnavailable("no model (test)")

    monkeypatch.setattr(h.transcriber, "submit_file", no_model)
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.0), then_silence_ms=200), Keys("0")]]},
                  talk_when_bridged=tone(CALLER_BRIDGED_HZ, 1.0))
    logged = h.logged(call)
    assert logged.transcript_status == "done" and logged.clerk_transcript_status == "unavailable"
    assert logged.clerk_spans and logged.clerk_transcript_words is None
    monkeypatch.setattr(h.transcriber, "submit_file", working)

    job = CallTranscription(h.ledger, h.store, Blocking(h.transcriber), h.handler.drafter,
                            h.handler.transcribe_recording)
    entry_before = h.ledger.get_entry(logged.entry_id)
    assert job.transcribe_call(call.info.call_id) == "already done; clerk done"
    after = h.logged(call)
    assert after.clerk_transcript_status == "done" and after.clerk_transcript_text == CLERK_SAYS
    [(_, channel, start, end)] = clerk_submissions(h)
    assert channel == 1 and [[start, end]] == after.clerk_spans
    assert h.ledger.get_entry(logged.entry_id).summary == entry_before.summary  # no re-draft from the clerk

    assert job.transcribe_call(call.info.call_id) == "already done"
    again = h.logged(call)
    assert len(clerk_submissions(h)) == 1
    assert again.clerk_transcript_words == after.clerk_transcript_words
    assert again.clerk_transcript_text == CLERK_SAYS


def test_the_retry_tick_picks_up_an_owed_clerk_side(hotline_double, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """In-process mode: a model installed later; the site's retry transcribes the clerk's side."""
    h = hotline_double(recognizer=ScriptedFactoryDouble([CALLER_SAYS, CLERK_SAYS]), phones={
        "8101": PhoneDouble(answer_after_s=0.05, talk=tone(CLERK_HZ, 1.5), hangup_after_s=0.6)})
    clerk(h, "wang", "8101")
    working = h.transcriber.submit_file

    def no_model(*_a: object, **_k: object) -> Future[Transcript]:
        raise ModelUnavailable("no model (test)")

    monkeypatch.setattr(h.transcriber, "submit_file", no_model)
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.0), then_silence_ms=200), Keys("0")]]})
    assert h.logged(call).clerk_transcript_status == "unavailable"
    monkeypatch.setattr(h.transcriber, "submit_file", working)
    retry = CallTranscription(h.ledger, h.store, Blocking(h.transcriber), h.handler.drafter,
                              h.handler.transcribe_recording, resubmit_clerk=h.handler.transcribe_clerk)
    assert retry.retry() == 1
    h.handler.outbox.drain()
    assert h.logged(call).clerk_transcript_status == "done"
    assert h.logged(call).clerk_transcript_text == CLERK_SAYS
    assert retry.retry() == 0  # done: nothing owed any more


@dataclass
class QueuedDouble(TranscriberDouble):
    """asr.mode queue as the hotline sees it: a recording goes to the call's job (enqueue_call)."""

    enqueued: list[tuple[str, object]] = field(default_factory=list)
    ledger: object = None

    def enqueue_call(self, sip_call_id: str) -> bool:
        assert self.ledger is not None
        self.enqueued.append((sip_call_id, self.ledger.call_by_key(sip_call_id).clerk_spans))  # type: ignore[attr-defined]
        return True


def test_in_queue_mode_the_calls_job_is_deferred_with_the_spans_stored(hotline_double) -> None:  # type: ignore[no-untyped-def]
    """The live recognizer heard the caller; the clerk's side goes to the call's one job, deferred
    after the spans are stored (the job reads them), and nothing is transcribed in this process."""
    queued = QueuedDouble(ScriptedFactoryDouble([CALLER_SAYS, CLERK_SAYS]))
    h: HotlineDouble = hotline_double(transcriber=queued, phones={
        "8101": PhoneDouble(answer_after_s=0.05, talk=tone(CLERK_HZ, 1.5), hangup_after_s=0.6)})
    queued.ledger = h.ledger
    clerk(h, "wang", "8101")
    call = h.call({"ask_unit": [[Say(tone(CALLER_HZ, 1.0), then_silence_ms=200), Keys("0")]]})
    logged = h.logged(call)
    assert logged.transcript_status == "done" and logged.clerk_spans
    assert queued.enqueued == [(call.info.call_id, logged.clerk_spans)]
    assert queued.submitted == [] and logged.clerk_transcript_status == "queued"
