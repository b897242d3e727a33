"""QA fixtures: stereo call recordings assembled from the agent's real prompt clips (right) and
real Mandarin speech from asr_eval (left), stored through the real recording store and ledger.

The real Mandarin model is absent on this machine: caller (and clerk) words come from the asr_eval
REFERENCE TEXTS through the named `ScriptedRecognizerDouble`, which is really fed the channel."""

from __future__ import annotations

import csv
import hashlib
import warnings
import wave
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from callcenter.asr.pool import transcribe_file
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import PromptSettings
from callcenter.clock import ManualClock
from callcenter.ledger.service import LedgerService
from callcenter.qa.evidence import TimedWord
from callcenter.qa.scorecard import load_scorecard
from callcenter.qa.service import QaService
from callcenter.qa.settings import QaSettings
from callcenter.recordings.interface import RecordingInfo
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from tests.doubles import ScriptedFactoryDouble

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

REPO = Path(__file__).resolve().parents[2]
RATE = 8000


@pytest.fixture(scope="session")
def prompts() -> PromptLibrary:
    """The repository's built prompt clips (幸福家园), as the agent plays them."""
    return PromptLibrary(PromptSettings(dir=REPO / "prompts", estate_name="幸福家园"))


@dataclass(frozen=True)
class Speech:
    pcm: np.ndarray  # 8 kHz int16
    reference: str


@pytest.fixture(scope="session")
def asr_eval(shared_dir: Path) -> dict[str, Speech]:
    """Real Mandarin recordings with their reference texts, at the telephone rate."""
    base = shared_dir / "asr_eval" / "dev"
    out = {}
    with (base / "manifest.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            with wave.open(str(base / row["file"])) as w:
                data, rate, ch = w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()
            if ch == 2:
                data = audioop.tomono(data, 2, 0.5, 0.5)
            if rate != RATE:
                data, _ = audioop.ratecv(data, 2, 1, rate, RATE, None)
            out[row["file"].removesuffix(".wav")] = Speech(np.frombuffer(data, dtype="<i2").copy(), row["reference_text"])
    return out


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.int16)


def clip(prompts: PromptLibrary, key: str) -> np.ndarray:
    return np.frombuffer(prompts.get(key), dtype="<i2")


@dataclass
class Track:
    """Builds one channel on the call's timeline."""

    parts: list[np.ndarray]

    def at(self, start_s: float, pcm: np.ndarray) -> Track:
        have = sum(len(p) for p in self.parts)
        gap = int(start_s * RATE) - have
        if gap < 0:
            raise ValueError(f"track already at {have / RATE:.2f} s, cannot place at {start_s}")
        self.parts += [np.zeros(gap, dtype=np.int16), pcm]
        return self

    def pcm(self, length: int) -> np.ndarray:
        data = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int16)
        return np.pad(data, (0, max(0, length - len(data))))[:length]


def track() -> Track:
    return Track([])


def reference_words(path: Path, channel: int, text: str) -> list[TimedWord]:
    """Words of one channel: the reference text through the Mandarin double (fed the real audio)."""
    t = transcribe_file(ScriptedFactoryDouble([text]), path, channel=channel)
    return [TimedWord(w.text, w.start_s, w.end_s) for w in t.words]


@dataclass
class CallMaker:
    ledger: LedgerService
    store: WavRecordingStore
    clock: ManualClock
    counter: int = 0

    def make(self, caller: Track, agent: Track, *, caller_text: str = "", ring_s: float = 4.0,
             number: str = "13800138000", confirm_after_s: float | None = 20.0) -> int:
        """Store a recorded, transcribed call; returns the call id. The caller's words come from
        `caller_text` through the Mandarin double fed the left channel."""
        self.counter += 1
        sip = f"qa-{self.counter}"
        start = self.clock.now()
        n = max(sum(len(p) for p in caller.parts), sum(len(p) for p in agent.parts))
        stereo = np.stack([caller.pcm(n), agent.pcm(n)], axis=1).astype("<i2")
        pk = self.ledger.call_ringing(sip, number, "", "hotline", start)
        answered = self.ledger.call_answered(sip, at=start + timedelta(seconds=ring_s))
        key = self.store.key_for(sip, start)
        path = Path(self.store.path_of(key))
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(stereo.tobytes())
        end = start + timedelta(seconds=ring_s + n / RATE)
        info = RecordingInfo(sip, key, n * 1000 // RATE, path.stat().st_size,
                             hashlib.sha256(path.read_bytes()).hexdigest(), RATE, 2, False)
        self.ledger.call_ended(sip, "caller_hangup", info, at=end)
        if caller_text:
            from callcenter.asr.interface import Transcript, Word

            words = reference_words(path, 0, caller_text)
            self.ledger.set_transcript(sip, Transcript(caller_text, tuple(Word(w.text, w.start_s, w.end_s, 0.9)
                                                                           for w in words), "scripted-double"), "done")
        if confirm_after_s is not None:
            self.clock._now = end + timedelta(seconds=confirm_after_s)  # the clerk confirms then
            self.ledger.confirm_entry(answered.entry_id, {"category": "报修", "summary": "测试"}, "clerk1", None)
        return pk


@pytest.fixture
def store(tmp_path: Path) -> WavRecordingStore:
    return WavRecordingStore(RecordingSettings(root=tmp_path / "rec"), background_flush=False)


@pytest.fixture
def maker(ledger: LedgerService, store: WavRecordingStore, clock: ManualClock) -> CallMaker:
    return CallMaker(ledger, store, clock)


@pytest.fixture
def qa(ledger: LedgerService, store: WavRecordingStore, clock: ManualClock, prompts: PromptLibrary) -> QaService:
    return QaService(ledger.engine, clock, store, load_scorecard(), QaSettings(), prompts=prompts,
                     org_names=("幸福家园",))
