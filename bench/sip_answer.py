"""INVITE -> 200 OK overhead beyond the configured ring delay, and agent CPU, through kamailio.

Run from the repository root:

    .venv/bin/python bench/sip_answer.py [--levels 1 10 30] [--calls-per-level 3]

For each concurrency level N, SIPp places N*k calls (at most N at once) through a
private kamailio on loopback to a PyVoipAgent running in its own process. Each call
is answered after one ring, hears a 1 s greeting, sends the 7 s g711a.pcap speech
and hangs up after 2.5 s. INVITE -> 200 OK per call comes from SIPp's message trace
(-trace_msg, microsecond timestamps of the first INVITE sent and the 200 OK
received; -trace_rtt only has 4 ms resolution); the overhead is that minus the
ring delay, so it includes kamailio's two hops. CPU% is the agent process's user+system time
over the level's wall time (100 % = one core).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RING_PERIOD_S = 0.5


def _agent_process(settings_json: str, ready: mp.synchronize.Event, stop: mp.synchronize.Event) -> None:
    import logging

    import numpy as np

    from callcenter.telephony.agent import PyVoipAgent
    from callcenter.telephony.settings import SipSettings

    logging.basicConfig(level=logging.WARNING)
    greeting = (8000 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype("<i2").tobytes()

    class Handler:
        def on_ringing(self, info):  # type: ignore[no-untyped-def]
            pass

        def on_missed(self, info, reason):  # type: ignore[no-untyped-def]
            print(f"missed {info.call_id}: {reason}", file=sys.stderr)

        def on_call(self, call):  # type: ignore[no-untyped-def]
            call.answer()
            call.play(greeting)
            while call.is_active():
                time.sleep(0.05)

    agent = PyVoipAgent(SipSettings.model_validate_json(settings_json), Handler())
    agent.start()
    ready.set()
    stop.wait()
    agent.stop()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _invite_to_ok_ms(messages_log: Path) -> list[float]:
    """Per Call-ID: first INVITE sent -> first 200 OK (CSeq INVITE) received, in ms."""
    sent: dict[str, datetime] = {}
    answered: dict[str, datetime] = {}
    blocks = re.split(r"(?m)^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*$", messages_log.read_text())
    for stamp, block in zip(blocks[1::2], blocks[2::2], strict=False):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if len(lines) < 2:
            continue
        call_id = re.search(r"(?mi)^Call-ID:\s*(\S+)", block)
        cseq = re.search(r"(?mi)^CSeq:\s*\d+\s+(\S+)", block)
        if not call_id or not cseq or cseq.group(1) != "INVITE":
            continue
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
        key = call_id.group(1)
        if "message sent" in lines[0] and lines[1].startswith("INVITE"):
            sent.setdefault(key, at)
        elif "message received" in lines[0] and lines[1].startswith("SIP/2.0 200"):
            answered.setdefault(key, at)
    return [(answered[k] - sent[k]).total_seconds() * 1000 for k in sent if k in answered]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--calls-per-level", type=int, default=3, help="calls = N * this (at least 10)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from callcenter.telephony.settings import SipSettings
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import run_sipp
    from tests.sipbench.tools import free_udp_block, free_udp_port

    work = Path(tempfile.mkdtemp(prefix="sip_answer_"))
    print(f"work dir {work}; ring delay {RING_PERIOD_S * 1000:.0f} ms (1 ring)")
    print(
        f"{'calls at once':>13} {'calls':>6} {'failed':>6} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} {'agent CPU %':>12}"
    )
    with Kamailio(work / "kamailio") as proxy:
        rtp_low = free_udp_block(200)
        settings = SipSettings(
            port=proxy.port,
            bind_port=free_udp_port(),
            rtp_port_low=rtp_low,
            rtp_port_high=rtp_low + 199,
            ring_period_s=RING_PERIOD_S,
            answer_after_rings=1,
            max_calls=max(args.levels) + 5,
            rtp_timeout_s=15,
        )
        ctx = mp.get_context("spawn")
        ready, stop = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=_agent_process, args=(settings.model_dump_json(), ready, stop))
        proc.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("agent process did not start")
            time.sleep(0.3)
            for level in args.levels:
                calls = max(10, level * args.calls_per_level)
                cpu0, wall0 = _cpu_s(proc.pid), time.monotonic()
                result = run_sipp(
                    "call_pcap_bye.xml",
                    proxy.port,
                    work / f"level{level}",
                    service=settings.username,
                    calls=calls,
                    limit=level,
                    rate=max(10, level * 4),
                    duration_ms=2500,
                    timeout_s=120,
                    extra=("-trace_msg",),
                )
                cpu_pct = 100 * (_cpu_s(proc.pid) - cpu0) / (time.monotonic() - wall0)
                rtts = [
                    ms - RING_PERIOD_S * 1000
                    for log in result.files("*_messages.log")
                    for ms in _invite_to_ok_ms(log)
                ]
                failed = calls - len(rtts) if result.returncode == 0 else f"{calls - len(rtts)}+"
                if not rtts:
                    print(result.explain(), file=sys.stderr)
                    continue
                print(
                    f"{level:>13} {calls:>6} {failed!s:>6} {statistics.median(rtts):>10.2f} "
                    f"{_percentile(rtts, 0.99):>8.2f} {max(rtts):>8.2f} {cpu_pct:>12.1f}"
                )
        finally:
            stop.set()
            proc.join(20)
            if proc.is_alive():
                proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
