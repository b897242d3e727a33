"""Registrar restart -> calls answered again, and re-INVITE -> audio at the new address.

Run from the repository root:

    .venv/bin/python bench/sip_media.py [--restarts 5] [--reinvites 10] [--keepalive 5]

Registrar restart (issue 15 target < 10 s): an agent registered at a private kamailio on
loopback; kamailio is killed with SIGKILL (its in-memory location table is lost), restarted on
the same port 1 s later, and SIPp calls the agent through it every 0.2 s until one is answered.
The figure is restart (kamailio answering again) -> first call answered. It is bounded by the
agent's keep-alive interval (`sip.keepalive_s`, an OPTIONS to its own number through the
registrar: 404 means the binding was lost -> REGISTER at once). Before each kill the script
waits until a keep-alive has come back through the registrar since the last REGISTER.

re-INVITE (issue 15 target < 100 ms): a SIPp caller moves its media to a socket this script
owns; the figure is the agent applying the new SDP (just before its 200 OK goes out) -> the
first RTP packet from the agent arriving at the new socket. Both clocks are this process's
CLOCK_MONOTONIC (the agent runs in-process).
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--reinvites", type=int, default=10)
    parser.add_argument("--keepalive", type=float, default=5.0, help="sip.keepalive_s of the agent")
    parser.add_argument("--verbose", action="store_true", help="the agent's log on stderr")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    logging.basicConfig(level=logging.DEBUG if "--verbose" in sys.argv else logging.ERROR,
                        format="%(asctime)s %(name)s %(message)s")

    from callcenter.telephony.agent import PyVoipAgent
    from callcenter.telephony.settings import SipSettings
    from tests.calls.callers import caller_scenario
    from tests.sipbench import audio
    from tests.sipbench.doubles import ScriptedHandler
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import finish, run_sipp, start_sipp
    from tests.sipbench.tools import free_udp_block, free_udp_port

    work = Path(tempfile.mkdtemp(prefix="sip-media-"))
    port = free_udp_port()
    kam = Kamailio(work / "kam", port=port).start()
    rtp = free_udp_block(200)
    settings = SipSettings(server="127.0.0.1", port=port, username="bench-media", bind_ip="127.0.0.1",
                           bind_port=free_udp_port(), rtp_port_low=rtp, rtp_port_high=rtp + 199,
                           answer_after_rings=0, keepalive_s=args.keepalive, register_expires_s=600)
    handler = ScriptedHandler(greeting=audio.tone(440, 600.0))
    agent = PyVoipAgent(settings, handler)
    agent.start()
    print(f"work dir {work}; agent keep-alive {args.keepalive} s")
    try:
        restarts: list[float] = []
        for round_ in range(args.restarts):
            # A settled binding: a keep-alive went through the registrar to us and back since the
            # last REGISTER (restarts minutes apart, not within a second of the last one).
            registration = agent._registration
            assert registration is not None
            seen = registration.looped_back
            settle = time.monotonic() + 3 * args.keepalive + 5
            while registration.looped_back == seen and time.monotonic() < settle:
                time.sleep(0.1)
            kam.kill()
            time.sleep(1.0)
            kam = Kamailio(work / "kam", port=port).start()
            restarted = time.monotonic()
            attempt = 0
            while time.monotonic() - restarted < 60:
                attempt += 1
                result = run_sipp("call_pcap_bye.xml", port, work / f"r{round_}-{attempt}", service=settings.username,
                                  duration_ms=100, timeout_s=5)
                if result.returncode == 0:
                    restarts.append(time.monotonic() - restarted)
                    break
                time.sleep(0.2)
            print(f"restart {round_ + 1}: answered again after {restarts[-1]:.2f} s ({attempt} calls)")
        latencies: list[float] = []
        for round_ in range(args.reinvites):
            moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            moved.bind(("127.0.0.1", 0))
            moved.settimeout(5)
            scenario = caller_scenario(work / f"reinvite{round_}.xml", [
                ("speak", audio.tone(700, 0.5)), ("pause", 800),
                ("reinvite", {"port": moved.getsockname()[1]}), ("pause", 800)])
            proc = start_sipp(str(scenario), port, work / f"ri{round_}", service=settings.username, timeout_s=20)
            try:
                moved.recv(2048)
                arrived = time.monotonic()
            finally:
                moved.close()
            code, output = finish(proc, 30)
            if code != 0:
                print(output, file=sys.stderr)
                return 1
            call = agent.find_call(handler.calls[-1].info.call_id)
            assert call is not None and call.rtp.repointed_at_s
            latencies.append((arrived - call.rtp.repointed_at_s) * 1000)
            print(f"re-INVITE {round_ + 1}: first RTP at the new address after {latencies[-1]:.1f} ms")
        print()
        print("| measure | n | median | p95 | max | target |")
        print("|---|---|---|---|---|---|")
        if restarts:
            print(f"| registrar restart -> calls answered again | {len(restarts)} | {statistics.median(restarts):.2f} s "
                  f"| {percentile(restarts, 0.95):.2f} s | {max(restarts):.2f} s | < 10 s |")
        if latencies:
            print(f"| re-INVITE -> first RTP at the new address | {len(latencies)} | "
                  f"{statistics.median(latencies):.1f} ms | {percentile(latencies, 0.95):.1f} ms | "
                  f"{max(latencies):.1f} ms | < 100 ms |")
    finally:
        agent.stop()
        kam.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
