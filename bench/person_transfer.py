"""转人工 latency and the bridge's cost, on loopback through kamailio.

Run from the repository root:

    .venv/bin/python bench/person_transfer.py [--calls 10]

Each round: a SIPp clerk phone registers at a private kamailio (answers after one 180 and
300 ms, plays a tone, hangs up after 4 s); a SIPp caller calls the real hotline (PyVoipAgent,
HotlineHandler with the staff desk, recorder, ledger on a temporary SQLite), waits until the
agent is listening (9 s, past the short prompts), presses 0 (RFC 4733) and then says back
what it hears (-rtp_echo), so audio flows caller -> clerk across the bridge.

Printed per run:
- key 0 -> first clerk INVITE sent: from the agent receiving the RFC 4733 event (CallSession.on_dtmf)
  to the INVITE's datagram leaving the agent's SIP socket (median, p99, max);
- bridge relay delay, caller -> clerk: from a caller frame reaching the bridge to the chunk holding
  it being handed to the clerk leg's RTP sender (median, p99; each frame of every bridged call);
- CPU per bridged call: this process's CPU time during the bridged seconds / those seconds
  (100 % = one core; SIPp and kamailio are other processes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()


    from callcenter.audio.prompt_build import build_default_prompts
    from callcenter.audio.prompts import PromptLibrary
    from callcenter.audio.settings import PromptSettings
    from callcenter.calls import bridge
    from callcenter.calls.session import CallSession
    from callcenter.staffing.settings import TransferSettings
    from tests.calls.conftest import SHORT_PROMPTS
    from tests.sipbench import audio
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import finish, start_sipp, start_uas

    work = Path(tempfile.mkdtemp(prefix="person_transfer_"))
    print(f"work dir {work}")
    prompts = PromptSettings(dir=work / "prompts", estate_name="测试花园", texts=SHORT_PROMPTS)
    build_default_prompts(prompts, workers=2)

    # ----- the hooks that time it --------------------------------------------------------------
    keyed: dict[str, float] = {}  # call id -> when its 0 arrived
    invites: list[tuple[float, bytes]] = []
    from desk_hotline import pct as _pct  # bench/, beside this script
    from desk_hotline import time_the_relay

    relay_ms = time_the_relay()
    bridged: list[tuple[float, float, float, float]] = []  # wall start/end, cpu start/end

    original_dtmf = CallSession.on_dtmf

    def on_dtmf(self: CallSession, digit: str) -> None:
        if digit == "0" and self.call_id not in keyed:
            keyed[self.call_id] = time.monotonic()
        original_dtmf(self, digit)

    CallSession.on_dtmf = on_dtmf  # type: ignore[method-assign]

    original_bridge = bridge.bridge_calls

    def timed_bridge(clerk, resident, sink):  # type: ignore[no-untyped-def]
        w0, c0 = time.monotonic(), time.process_time()
        try:
            return original_bridge(clerk, resident, sink)
        finally:
            bridged.append((w0, time.monotonic(), c0, time.process_time()))

    import callcenter.calls.desk as desk_module

    desk_module.bridge_calls = timed_bridge  # type: ignore[assignment]

    with Kamailio(work / "kamailio") as proxy:
        from desk_hotline import desk_hotline  # bench/, beside this script

        hotline = desk_hotline(work, proxy.port, PromptLibrary(prompts))
        desk, agent, settings = hotline.desk, hotline.agent, hotline.settings
        send = agent._send

        def timed_send(data: bytes, peer):  # type: ignore[no-untyped-def]
            if data.startswith(b"INVITE sip:87"):
                invites.append((time.monotonic(), data))
            return send(data, peer)

        agent._send = timed_send  # type: ignore[method-assign]
        agent.start()
        lock = threading.Lock()
        key_to_invite: list[float] = []
        try:
            for i in range(args.calls):
                clerk = f"87{i:03d}"
                desk.transfer = TransferSettings(ring_timeout_s=10, extensions=(clerk,))
                cw = work / f"clerk{i}"
                cw.mkdir()
                audio.write_rtp_pcap(cw / "uas.pcap", audio.tone(1100, 3.0), codec="PCMU")
                phone, _ = start_uas("uas_answer_bye.xml", proxy.port, cw, clerk, duration_ms=4000)
                before = len(invites)
                caller = start_sipp(str(REPO / "tests/sipbench/scenarios/person_zero_wait_bye.xml"), proxy.port,
                                    work / f"caller{i}", service=settings.username, duration_ms=9000, timeout_s=60,
                                    extra=("-rtp_echo",))  # says back the clerk: audio caller -> clerk
                rc_phone, out_phone = finish(phone, 60)
                rc_caller, out_caller = finish(caller, 60)
                if rc_phone or rc_caller:
                    print(f"round {i}: clerk rc={rc_phone} caller rc={rc_caller}\n{out_phone}\n{out_caller}",
                          file=sys.stderr)
                with lock:
                    ours = invites[before:]
                    key_at = max(keyed.values()) if keyed else None
                if ours and key_at is not None:
                    key_to_invite.append((ours[0][0] - key_at) * 1000)
                    print(f"round {i}: key 0 -> INVITE {key_to_invite[-1]:.1f} ms")
        finally:
            hotline.stop()

    print()
    if key_to_invite:
        print(f"key 0 -> first clerk INVITE: n={len(key_to_invite)} median {statistics.median(key_to_invite):.1f} ms, "
              f"p99 {_pct(key_to_invite, 0.99):.1f} ms, max {max(key_to_invite):.1f} ms")
    if relay_ms:
        print(f"bridge relay delay caller -> clerk: n={len(relay_ms)} frames, median {statistics.median(relay_ms):.2f} ms, "
              f"p99 {_pct(relay_ms, 0.99):.2f} ms")
    if bridged:
        wall = sum(w1 - w0 for w0, w1, _, _ in bridged)
        cpu = sum(c1 - c0 for _, _, c0, c1 in bridged)
        print(f"CPU per bridged call: {100 * cpu / wall:.1f} % of one core over {wall:.1f} bridged seconds "
              f"({len(bridged)} calls, one at a time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
