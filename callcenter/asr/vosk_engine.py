"""Vosk (Kaldi) streaming recognition: one model loaded once, one recognizer per call.

vosk is imported lazily so that importing this module loads neither libvosk nor a model.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Literal

from callcenter.asr.interface import ModelUnavailable, Transcript, Word
from callcenter.asr.models import FIX_HINT, check_model
from callcenter.asr.text import join_words

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

log = logging.getLogger(__name__)

TELEPHONE_RATE_HZ = 8000
_WIDTH = 2  # PCM16
# Computing a partial result walks the current lattice; doing it per 20 ms RTP packet costs real CPU,
# so partials are refreshed at most this often (in audio time).
DEFAULT_PARTIAL_EVERY_S = 0.25


class VoskStream:
    """A StreamingRecognizer over one vosk.KaldiRecognizer. Safe to feed and finish from different threads."""

    def __init__(
        self,
        recognizer: Any,
        *,
        input_rate_hz: int,
        feed_rate_hz: int,
        engine: str,
        partial_every_s: float = DEFAULT_PARTIAL_EVERY_S,
    ) -> None:
        self._rec = recognizer
        self._input_rate_hz = input_rate_hz
        self._feed_rate_hz = feed_rate_hz
        self._engine = engine
        self._partial_every_bytes = int(partial_every_s * input_rate_hz) * _WIDTH
        self._lock = threading.Lock()
        self._ratecv_state: Any = None  # audioop.ratecv carries filter state between RTP packets
        self._carry = b""  # an odd trailing byte waits for its partner
        self._segments: list[dict[str, Any]] = []
        self._bytes_since_partial = 0
        self._last_partial = ""
        self._finished = False
        self.fed_s = 0.0  # seconds of input audio accepted so far

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        """Feed PCM16 at the stream's input rate (8 kHz for calls).

        Returns the running text (finalized segments + current hypothesis) when it changed, else None.
        """
        with self._lock:
            if self._finished:
                raise RuntimeError("accept_pcm16 after finish()")
            data = self._carry + pcm16
            if len(data) % _WIDTH:
                data, self._carry = data[:-1], data[-1:]
            else:
                self._carry = b""
            if not data:
                return None
            self.fed_s += len(data) / (_WIDTH * self._input_rate_hz)
            if self._input_rate_hz != self._feed_rate_hz:
                data, self._ratecv_state = audioop.ratecv(
                    data, _WIDTH, 1, self._input_rate_hz, self._feed_rate_hz, self._ratecv_state
                )
            if self._rec.AcceptWaveform(data):
                # Vosk hit an endpoint (a pause): this segment is final, keep it.
                self._segments.append(json.loads(self._rec.Result()))
                partial = ""
                self._bytes_since_partial = 0
            else:
                self._bytes_since_partial += len(pcm16)
                if self._bytes_since_partial < self._partial_every_bytes:
                    return None
                self._bytes_since_partial = 0
                partial = json.loads(self._rec.PartialResult()).get("partial", "")
            running = join_words([*(s.get("text", "") for s in self._segments), partial])
            if running == self._last_partial:
                return None
            self._last_partial = running
            return running

    def finish(self) -> Transcript:
        with self._lock:
            if self._finished:
                raise RuntimeError("finish() called twice")
            self._finished = True
            self._segments.append(json.loads(self._rec.FinalResult()))
            words = tuple(
                Word(
                    text=w["word"],
                    # Vosk reports times from the start of the stream, across endpoints (checked in tests).
                    start_s=float(w["start"]),
                    end_s=float(w["end"]),
                    confidence=min(1.0, max(0.0, float(w.get("conf", 1.0)))),
                )
                for seg in self._segments
                for w in seg.get("result", ())
            )
            text = (
                join_words([w.text for w in words])
                if words
                else join_words([s.get("text", "") for s in self._segments])
            )
            self._rec = None  # free the Kaldi decoder now, not when the stream object is collected
            return Transcript(text=text, words=words, engine=self._engine)


class VoskRecognizerFactory:
    """RecognizerFactory for Vosk. Loads the model once (seconds, hundreds of MB); streams share it."""

    def __init__(self, model_dir: Path, feed_rate_hz: Literal[8000, 16000] = 8000) -> None:
        import vosk  # lazy: loads libvosk

        model_dir = Path(model_dir)
        check_model(model_dir)
        if feed_rate_hz not in (8000, 16000):
            raise ValueError(f"feed_rate_hz must be 8000 or 16000, not {feed_rate_hz}")
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.model_dir = model_dir
        self.feed_rate_hz = feed_rate_hz
        label = model_dir.parent.name if model_dir.name == "model" else model_dir.name
        self.name = f"vosk:{label}@{feed_rate_hz}"
        started = time.perf_counter()
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelUnavailable(
                f"Vosk could not load the speech model at {model_dir}: {exc}. {FIX_HINT}"
            ) from exc
        self.load_s = time.perf_counter() - started
        log.info("vosk model %s loaded in %.1f s", model_dir, self.load_s)

    def new_stream(
        self,
        *,
        input_rate_hz: int = TELEPHONE_RATE_HZ,
        feed_rate_hz: int | None = None,
        partial_every_s: float = DEFAULT_PARTIAL_EVERY_S,
    ) -> VoskStream:
        """A fresh recognizer. Calls feed 8 kHz; evaluation may feed wideband audio (input_rate_hz=16000)."""
        feed = feed_rate_hz or self.feed_rate_hz
        rec = self._vosk.KaldiRecognizer(self._model, float(feed))
        rec.SetWords(True)
        return VoskStream(
            rec,
            input_rate_hz=input_rate_hz,
            feed_rate_hz=feed,
            engine=self.name,
            partial_every_s=partial_every_s,
        )
