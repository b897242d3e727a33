"""Character error rate and real-time factor of a model on a folder of recordings with references.

`callcenter models eval --model DIR --data DIR` calls `evaluate` and prints `report.table()`. The data folder
holds WAV files and `manifest.tsv` (header row; columns file, reference_text, anything else ignored).
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from callcenter.asr.text import strip_for_scoring
from callcenter.asr.wav import Pcm, read_channel, resample

if TYPE_CHECKING:
    from callcenter.asr.vosk_engine import VoskRecognizerFactory

Band = Literal["wide", "telephone"]
_RTP_CHUNK_S = 0.02  # feed as a call does: 20 ms packets, so the RTF is the live path's cost
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def normalize_reference(text: str) -> str:
    """Spoken form for scoring: Arabic numbers become Chinese numerals (Vosk writes 二十六, not 26)."""
    import cn2an

    def spoken(m: re.Match[str]) -> str:
        num = m.group(0)
        # A four-digit number before 年 is a year, read digit by digit (2024年 -> 二零二四年). Two digits
        # are ambiguous (26年专注 is a duration, 92年回到 a year); the cardinal is an accepted reading of both.
        if m.end() < len(m.string) and m.string[m.end()] == "年" and len(num) == 4:
            return "".join("零一二三四五六七八九"[int(d)] for d in num)
        return str(cn2an.an2cn(num, "low"))

    return _DIGITS.sub(spoken, text)


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate after normalization; 0 for an empty reference and hypothesis."""
    ref = strip_for_scoring(normalize_reference(reference))
    hyp = strip_for_scoring(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


@dataclass(frozen=True)
class FileResult:
    file: str
    reference: str
    hypothesis: str
    edits: int
    ref_chars: int
    audio_s: float
    decode_s: float  # wall time
    cpu_s: float = 0.0  # CPU time of the decoding thread: robust when other jobs share the cores

    @property
    def cer(self) -> float:
        return self.edits / self.ref_chars if self.ref_chars else 0.0

    @property
    def rtf(self) -> float:
        return self.decode_s / self.audio_s if self.audio_s else 0.0

    @property
    def cpu_rtf(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s else 0.0


@dataclass(frozen=True)
class EvalReport:
    model: str
    band: Band
    feed_rate_hz: int
    load_s: float
    files: tuple[FileResult, ...] = field(default_factory=tuple)

    @property
    def cer(self) -> float:
        chars = sum(f.ref_chars for f in self.files)
        return sum(f.edits for f in self.files) / chars if chars else 0.0

    @property
    def rtf(self) -> float:
        audio = sum(f.audio_s for f in self.files)
        return sum(f.decode_s for f in self.files) / audio if audio else 0.0

    @property
    def cpu_rtf(self) -> float:
        audio = sum(f.audio_s for f in self.files)
        return sum(f.cpu_s for f in self.files) / audio if audio else 0.0

    def table(self) -> str:
        width = max([len(f.file) for f in self.files] + [4])
        lines = [
            f"model {self.model}  band {self.band}  fed at {self.feed_rate_hz} Hz  load {self.load_s:.1f} s",
            f"{'file':<{width}}  {'audio_s':>7}  {'CER':>6}  {'RTF':>5}  {'cpuRTF':>6}  hypothesis",
        ]
        for f in self.files:
            lines.append(
                f"{f.file:<{width}}  {f.audio_s:7.1f}  {f.cer:6.1%}  {f.rtf:5.2f}  {f.cpu_rtf:6.2f}  {f.hypothesis[:40]}"
            )
        total = sum(f.audio_s for f in self.files)
        lines.append(
            f"{'ALL':<{width}}  {total:7.1f}  {self.cer:6.1%}  {self.rtf:5.2f}  {self.cpu_rtf:6.2f}  ({len(self.files)} files)"
        )
        return "\n".join(lines)


def read_manifest(data_dir: Path) -> list[tuple[str, str]]:
    with (data_dir / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r[0], r[1]) for r in rows[1:] if len(r) >= 2 and r[0]]


def prepare_audio(pcm: Pcm, band: Band) -> Pcm:
    """Wide: as recorded. Telephone: 8 kHz through a G.711 µ-law encode/decode, as the caller reaches us."""
    if band == "wide":
        return pcm
    from callcenter.audio.g711 import decode_ulaw, encode_ulaw

    narrow = resample(pcm, 8000)
    return Pcm(decode_ulaw(encode_ulaw(narrow.data)), 8000)


def evaluate(
    model_dir: Path,
    data_dir: Path,
    *,
    band: Band = "telephone",
    feed_rate_hz: Literal[8000, 16000] = 8000,
    factory: VoskRecognizerFactory | None = None,
) -> EvalReport:
    """Decode every manifest file with a model loaded once; CER and RTF per file and overall.

    Wide band feeds the recording at its own rate (Vosk resamples to the model's rate if needed) and
    ignores feed_rate_hz; telephone band feeds the 8 kHz µ-law audio at feed_rate_hz. Pass an already
    loaded factory for model_dir to skip loading it again.
    """
    from callcenter.asr.vosk_engine import VoskRecognizerFactory

    if factory is None:
        factory = VoskRecognizerFactory(Path(model_dir), feed_rate_hz)
    results: list[FileResult] = []
    feed: int = feed_rate_hz
    for name, reference in read_manifest(Path(data_dir)):
        pcm = prepare_audio(read_channel(Path(data_dir) / name), band)
        feed = pcm.rate_hz if band == "wide" else feed_rate_hz
        stream = factory.new_stream(input_rate_hz=pcm.rate_hz, feed_rate_hz=feed)
        step = int(_RTP_CHUNK_S * pcm.rate_hz) * 2
        started, cpu_started = time.perf_counter(), time.thread_time()
        for i in range(0, len(pcm.data), step):
            stream.accept_pcm16(pcm.data[i : i + step])
        hypothesis = stream.finish().text
        decode_s, cpu_s = time.perf_counter() - started, time.thread_time() - cpu_started
        ref = strip_for_scoring(normalize_reference(reference))
        hyp = strip_for_scoring(hypothesis)
        results.append(
            FileResult(
                name,
                reference,
                hypothesis,
                edit_distance(ref, hyp),
                len(ref),
                pcm.duration_s,
                decode_s,
                cpu_s,
            )
        )
    # Wide band is fed at the recordings' own rate (16 kHz for asr_eval), whatever feed_rate_hz says.
    fed_at = feed if results and band == "wide" else feed_rate_hz
    return EvalReport(factory.name, band, fed_at, factory.load_s, tuple(results))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m callcenter.asr.evaluate --model DIR --data DIR [--band telephone|wide] [--feed-rate 8000]`."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--band", choices=("telephone", "wide"), default="telephone")
    p.add_argument("--feed-rate", type=int, choices=(8000, 16000), default=8000)
    args = p.parse_args(argv)
    print(evaluate(args.model, args.data, band=args.band, feed_rate_hz=args.feed_rate).table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
