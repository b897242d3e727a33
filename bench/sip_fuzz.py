"""SIP fuzzing throughput: malformed datagrams handled per second, replies per class, the answer
latency of real calls placed meanwhile, and the agent's memory before and after.

Run from the repository root:

    .venv/bin/python bench/sip_fuzz.py [--messages 50000] [--pool 3000]

A PyVoipAgent (tone handler, one 0.5 s ring) runs in its own process behind a private kamailio.
Hypothesis draws a pool of fuzz cases from tests/fuzz/sipgen.py (grammar, mutated captured
seeds, random bytes); the pool is replayed with a fresh Call-ID per message until --messages
were sent, each judged by the oracle (tests/fuzz/runner.py: a probe OPTIONS follows every case,
so a "message" here is one fuzz case plus its probe). Garbage RTP goes to the live calls' ports.
Meanwhile SIPp places real calls through kamailio one after another; INVITE -> 200 OK comes from
SIPp's message trace, the ring delay subtracted, and is compared with calls placed before the
fuzzing. RSS is the agent process's VmRSS.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pool(size: int) -> list:  # type: ignore[type-arg]
    from hypothesis import HealthCheck, Phase, given, settings

    from tests.fuzz import sipgen

    cases = []

    @settings(max_examples=size, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(sipgen.sip_case())
    def collect(case: sipgen.Case) -> None:
        cases.append(case)

    collect()
    return cases


def _fresh(case):  # type: ignore[no-untyped-def]
    """The same case under a new Call-ID, so replays never meet an earlier call."""
    import copy
    from dataclasses import replace

    if not case.call_id:
        return case
    new = f"fz-{uuid.uuid4().hex}@bench"
    data = case.data.replace(case.call_id.encode(), new.encode())
    msg = None
    if case.msg is not None:  # the oracle compares the replies with the message's headers
        msg = copy.deepcopy(case.msg)
        msg.headers = [(n, v.replace(case.call_id, new)) for n, v in msg.headers]
    return replace(case, data=data, call_id=new, msg=msg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--pool", type=int, default=3000, help="distinct cases drawn by Hypothesis")
    parser.add_argument("--baseline-calls", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from sip_answer import RING_PERIOD_S, _agent_process, _cpu_s, _invite_to_ok_ms, _percentile

    from callcenter.telephony.settings import SipSettings
    from tests.fuzz.runner import FuzzClient, Tally
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import run_sipp
    from tests.sipbench.tools import free_udp_block, free_udp_port

    work = Path(tempfile.mkdtemp(prefix="sip_fuzz_"))
    t0 = time.monotonic()
    pool = _pool(args.pool)
    print(f"work dir {work}; {len(pool)} distinct cases drawn in {time.monotonic() - t0:.1f} s")
    with Kamailio(work / "kamailio") as proxy:
        rtp_low = free_udp_block(200)
        settings = SipSettings(port=proxy.port, bind_port=free_udp_port(), rtp_port_low=rtp_low,
                               rtp_port_high=rtp_low + 199, answer_after_rings=1, ring_period_s=RING_PERIOD_S,
                               max_calls=40)
        ctx = mp.get_context("spawn")  # a fresh interpreter: the agent's RSS is its own
        ready, stop = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=_agent_process, args=(settings.model_dump_json(), ready, stop))
        proc.start()
        assert ready.wait(30), "agent did not start"
        assert proc.pid is not None
        try:
            base = run_sipp("call_pcap_bye.xml", proxy.port, work / "baseline", service=settings.username,
                            calls=args.baseline_calls, duration_ms=500, extra=("-trace_msg",))
            baseline = _invite_to_ok_ms(next((work / "baseline").glob("*_messages.log")))
            rss_before, cpu_before = _rss_mib(proc.pid), _cpu_s(proc.pid)

            done = threading.Event()
            rounds: list[int] = []

            def real_calls() -> None:  # one real call after another while the fuzzing lasts
                while not done.is_set():
                    r = run_sipp("call_pcap_bye.xml", proxy.port, work / f"during{len(rounds)}",
                                 service=settings.username, duration_ms=500, extra=("-trace_msg",))
                    rounds.append(r.returncode)

            caller = threading.Thread(target=real_calls, daemon=True)
            client = FuzzClient(settings.bind_port)
            tally = Tally()
            rtp_packets = [p for p in _rtp_pool(200) if p]
            start = time.monotonic()
            caller.start()
            rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                for i in range(args.messages):
                    client.run(_fresh(pool[i % len(pool)]), tally)
                    if i % 5 == 0:  # the agent's live RTP ports are in SIPp's SDP answers; spray the range
                        rtp_sock.sendto(rtp_packets[i % len(rtp_packets)], ("127.0.0.1", rtp_low + (i % 200)))
                        tally.rtp_packets += 1
            finally:
                elapsed = time.monotonic() - start
                done.set()
                client.close()
                rtp_sock.close()
            caller.join(timeout=120)
            cpu = _cpu_s(proc.pid) - cpu_before
            time.sleep(2)
            rss_after = _rss_mib(proc.pid)
            time.sleep(35)  # ended calls are kept 32 s to answer retransmissions
            rss_later = _rss_mib(proc.pid)
            during = [ms for d in sorted(work.glob("during*")) for log in d.glob("*_messages.log")
                      for ms in _invite_to_ok_ms(log)]
        finally:
            stop.set()
            proc.join(timeout=30)

    ring_ms = RING_PERIOD_S * 1000

    def fmt(values: list[float]) -> str:
        if not values:
            return "none answered"
        over = [v - ring_ms for v in values]
        return (f"{len(values)} calls, overhead beyond the ring median {_percentile(over, 0.5):.1f} ms, "
                f"p99 {_percentile(over, 0.99):.1f} ms, max {max(over):.1f} ms")

    print(f"\n{tally.cases} fuzz cases in {elapsed:.1f} s: {tally.cases / elapsed:.0f} cases/s "
          f"({2 * tally.cases / elapsed:.0f} datagrams/s with the probes), agent CPU {100 * cpu / elapsed:.0f} %")
    print(tally.report())
    print(f"\nreal calls before fuzzing: {fmt(baseline)} (sipp exit {base.returncode})")
    print(f"real calls during fuzzing: {fmt(during)}; sipp exits {rounds}")
    print(f"agent RSS: {rss_before:.1f} MiB before, {rss_after:.1f} MiB right after, "
          f"{rss_later:.1f} MiB 35 s later")
    return 0 if not tally.problems and all(code == 0 for code in rounds) else 1


def _rtp_pool(size: int) -> list[bytes]:
    from hypothesis import HealthCheck, Phase, given, settings

    from tests.fuzz import sipgen

    packets: list[bytes] = []

    @settings(max_examples=size, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(sipgen.rtp_garbage())
    def collect(packet: bytes) -> None:
        packets.append(packet)

    collect()
    return packets


if __name__ == "__main__":
    sys.exit(main())
