"""Training clips: numbers masked in the text AND beeped in the audio, surname only, exact length."""

from __future__ import annotations

import io
import json
import wave
import zipfile

import numpy as np

from callcenter.qa.clip import BEEP_HZ, build_clip, mask_words
from callcenter.qa.evidence import TimedWord

RATE = 8000


def words(spec: list[tuple[str, float, float]]) -> list[TimedWord]:
    return [TimedWord(t, a, b) for t, a, b in spec]


def tone_share(x: np.ndarray, hz: float) -> float:
    """Share of the signal's energy at `hz` (a pure beep gives ~1)."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    band = (freqs > hz - 20) & (freqs < hz + 20)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


def test_mask_words_keeps_word_lengths_and_times() -> None:
    ws = words([("我姓王", 0, 1), ("王建国", 1, 2), ("电话", 2, 2.5), ("138", 2.5, 3), ("0013", 3, 3.5),
                ("8000", 3.5, 4), ("四栋", 4, 4.5), ("2单元301", 4.5, 5)])
    m = mask_words(ws, "王建国")
    assert m.text == "我姓王王**电话***********四栋2单元301"
    assert [w.text for w in m.words][3:6] == ["***", "****", "****"]
    assert m.spans_s == [(2.5, 4.0)]
    ident = mask_words(words([("身份证", 0, 1), ("11010519491231002X", 1, 4)]))
    assert ident.text == "身份证" + "*" * 18 and ident.spans_s == [(1, 4)]
    spoken = mask_words(words([(c, i * 0.3, i * 0.3 + 0.3) for i, c in enumerate("幺三八零零幺三八零零零")]))
    assert spoken.text == "*" * 11


def test_clip_zip_masks_text_and_beeps_the_spoken_digits() -> None:
    rng = np.random.default_rng(3)
    n = 12 * RATE
    speech = (rng.normal(0, 2000, (n, 2))).astype(np.int16)  # stands in for speech on both channels
    caller = words([("我是王建国", 2.0, 3.0), ("电话是", 3.0, 4.0), ("13800138000", 4.0, 7.0), ("谢谢", 7.2, 8.0)])
    data = build_clip(speech, 1000, 9000, caller, (), "王建国", {"call_id": 7, "note": "号码示例"})
    z = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(z.namelist()) == ["clip.wav", "transcript.json", "transcript.txt"]
    doc = json.loads(z.read("transcript.json"))
    text = z.read("transcript.txt").decode()
    assert "13800138000" not in text and "建国" not in text and "***********" in text and "王**" in text
    assert doc["caller_text"] == "我是王**电话是***********谢谢" and doc["caller_name"] == "王**"
    assert doc["caller_words"][2] == {"text": "***********", "start_s": 3.0, "end_s": 6.0}
    with wave.open(io.BytesIO(z.read("clip.wav"))) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, RATE)
        assert w.getnframes() == 8 * RATE  # exactly the segment 1.0–9.0 s
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    beeped = audio[3 * RATE:6 * RATE]  # 4–7 s of the call = 3–6 s of the clip
    for ch in (0, 1):
        assert tone_share(beeped[:, ch], BEEP_HZ) > 0.95
        assert tone_share(audio[:3 * RATE, ch], BEEP_HZ) < 0.05  # untouched around it
    assert np.array_equal(audio[:3 * RATE], speech[RATE:4 * RATE])
    assert np.array_equal(audio[6 * RATE:], speech[7 * RATE:9 * RATE])
