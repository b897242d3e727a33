"""Soak: `callcenter serve` behind a private kamailio, SIPp keeping N calls up continuously for a set
time (default 30 minutes at 30 concurrent), memory sampled every few seconds; afterwards every call is
checked in the ledger (status, entry) and every recording on disk (sha256 as stored, WAV readable,
length matching the call).

Run from the repository root:

    .venv/bin/python bench/soak.py                         # 30 min, 30 concurrent, SQLite
    .venv/bin/python bench/soak.py --minutes 5 --db-url postgresql+psycopg://...

Prints the RSS (serve process and its workers) per minute, answer latency (INVITE -> 200 OK, which
includes the configured rings) per 5-minute window, and the summary; exit 1 if any check failed.
The speech recogniser is not loaded (no model): this measures telephony, recording and the ledger;
transcription load is in bench/pipeline_load.py and bench/asr_rtf.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.audio.prompt_build import build_default_prompts  # noqa: E402
from callcenter.audio.settings import PromptSettings  # noqa: E402
from tests.load.soak import run_soak  # noqa: E402
from tests.sipbench.kamailio import Kamailio  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--concurrent", type=int, default=30)
    parser.add_argument("--hold-s", type=float, default=30, help="the caller hangs up after this if the agent has not")
    parser.add_argument("--db-url", default="", help="default: SQLite in the work dir")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak_"))
    print(f"work dir {work}; {os.cpu_count()} cores; load {' '.join(Path('/proc/loadavg').read_text().split()[:3])}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
    settings = PromptSettings(dir=work / "prompts", estate_name="测试花园")
    build_default_prompts(settings)
    db_url = args.db_url or f"sqlite:///{work}/ledger.db"
    with Kamailio(work / "kamailio") as kamailio:
        report = run_soak(work / "run", kamailio.port, db_url, settings.model_dump(mode="json"),
                          duration_s=args.minutes * 60, concurrent=args.concurrent, hold_s=args.hold_s,
                          progress=False)
    print(f"load at the end {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print("\nminute  RSS MiB (serve + workers)")
    for minute in range(int(args.minutes) + 1):
        window = [mb for t, mb in report.rss_mb if minute * 60 <= t < (minute + 1) * 60]
        if window:
            print(f"{minute:6d}  {statistics.median(window):7.1f}")
    print("\nwindow      calls  answer p50 ms  p99 ms  max ms")
    for start in range(0, int(args.minutes * 60) + 1, 300):
        window = sorted(ms for t, ms in report.answer_ms if start <= t < start + 300)
        if window:
            p99 = window[min(len(window) - 1, int(0.99 * len(window)))]
            print(f"{start // 60:3d}-{start // 60 + 5:<3d} min {len(window):6d}  {statistics.median(window):13.0f}"
                  f"  {p99:6.0f}  {window[-1]:6.0f}")
    print("\n" + report.summary())
    for problem in report.problems[:50]:
        print("PROBLEM", problem)
    return 1 if report.problems or report.sipp_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
