"""CPU cost of recording a call, per call-second, and the cost of the periodic fsync.

Feeds stereo audio exactly as a call does (50 caller packets and 50 agent frames per second,
flushed every 100 ms and synced every second, as the store's flusher thread does) but as fast as
the CPU allows, with a simulated clock, so the figures are the recorder's own work.

    .venv/bin/python bench/recorder_cpu.py [--calls 20] [--seconds 60] [--dir recordings-bench]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore

FRAME = 160  # samples per 20 ms


class SimClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def run(calls: int, seconds: int, root: Path) -> None:
    clock = SimClock()
    store = WavRecordingStore(RecordingSettings(root=root), monotonic=clock, background_flush=False)
    recorders = [store.open(f"bench-{i}@127.0.0.1", datetime.now(UTC)) for i in range(calls)]
    rng = np.random.default_rng(1)
    frames = [rng.integers(-8000, 8000, FRAME, dtype=np.int16).tobytes() for _ in range(50)]

    write_cpu = flush_cpu = sync_cpu = 0.0
    sync_wall: list[float] = []
    for f in range(seconds * 50):
        clock.t = f * 0.02
        frame = frames[f % 50]
        t = time.thread_time()
        for i, rec in enumerate(recorders):
            rec.write_caller(frame, (i * 977 + f * FRAME) & 0xFFFFFFFF)
            rec.write_agent(frame)
        write_cpu += time.thread_time() - t
        if f % 5 == 4:  # the flusher's 100 ms tick
            sync = f % 50 == 49  # and once a second: header + fsync
            for rec in recorders:
                t_cpu, t_wall = time.thread_time(), time.perf_counter()
                rec.flush(sync=sync)
                cpu = time.thread_time() - t_cpu
                if sync:
                    sync_cpu += cpu
                    sync_wall.append(time.perf_counter() - t_wall)
                else:
                    flush_cpu += cpu
    t = time.thread_time()
    infos = [rec.close() for rec in recorders]
    close_cpu = time.thread_time() - t

    call_seconds = calls * seconds
    total = write_cpu + flush_cpu + sync_cpu + close_cpu
    print(
        f"{calls} calls x {seconds} s = {call_seconds} call-seconds, {infos[0].size_bytes / 1e6:.2f} MB per call"
    )
    print(f"write paths (2 x 50 calls/s):   {write_cpu / call_seconds * 1e6:8.1f} us CPU per call-second")
    print(f"interleave + append (10/s):     {flush_cpu / call_seconds * 1e6:8.1f} us CPU per call-second")
    print(f"header + fsync (1/s):           {sync_cpu / call_seconds * 1e6:8.1f} us CPU per call-second")
    print(f"close (final flush + sha256):   {close_cpu / calls * 1e3:8.2f} ms CPU per call")
    print(
        f"total:                          {total / call_seconds * 1e6:8.1f} us CPU per call-second "
        f"= {total / call_seconds * 100:.3f} % of one core per live call"
    )
    q = statistics.quantiles(sync_wall, n=100)
    print(
        f"fsync wall time: median {statistics.median(sync_wall) * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms, "
        f"max {max(sync_wall) * 1e3:.2f} ms (n={len(sync_wall)}; on the flusher thread, never on RTP)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--dir", type=Path, default=None, help="recordings root (default: a temp dir, removed)"
    )
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="recorder-bench-"))
    try:
        run(args.calls, args.seconds, root)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
