"""Bridged calls while other calls are in intake, on loopback through kamailio.

Run from the repository root:

    .venv/bin/python bench/person_load.py [--bridged 10] [--intake 20] [--bridge-s 15]

The real hotline with the staff desk (bench/desk_hotline.py: PyVoipAgent, HotlineHandler,
recorder, ledger on a temporary SQLite; no speech model, so every call takes the keypad path) in
this process. First `--intake` SIPp callers call and stay in the conversation (they talk on
and on, a phrase over and over, so each turn runs to its end); a second later `--bridged` SIPp
callers call, press 0 (RFC 4733) and say back what they hear (-rtp_echo); one SIPp clerk phone
registered at kamailio answers every transfer after 300 ms, plays a tone and hangs up after
`--bridge-s` s. So for those seconds `--bridged` bridges relay audio both ways while the
intake calls' conversations run beside them.

Printed:
- bridge relay delay, caller -> clerk: from a caller frame reaching the bridge to the chunk
  holding it being handed to the clerk leg's RTP sender (median, p99, max; every frame);
- CPU: this process's CPU time over the window in which all bridges were up, as % of one core,
  and divided by the calls up at the time (per call);
- RSS of this process: before the calls and the peak while they were up;
- answer overhead: `--probe` more SIPp callers call while all the bridges are up (2 a second,
  each hangs up after 1.5 s); for each, INVITE arrival to 200 OK minus the configured ring delay
  (the three-ring wait is on purpose; what the load adds to it is not);
- nothing lost: calls the ledger logged, ended, with a recording, against calls placed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bridged", type=int, default=10)
    parser.add_argument("--intake", type=int, default=20)
    parser.add_argument("--bridge-s", type=float, default=15.0)
    parser.add_argument("--probe", type=int, default=10, help="calls placed while the bridges are up")
    args = parser.parse_args()

    from callcenter.audio.prompt_build import build_default_prompts, synthesize
    from callcenter.audio.prompts import PromptLibrary
    from callcenter.audio.settings import PromptSettings
    from callcenter.calls import bridge
    from callcenter.staffing.settings import TransferSettings
    from tests.calls.callers import caller_scenario
    from tests.calls.conftest import SHORT_PROMPTS
    from tests.sipbench import audio
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import finish, start_sipp, start_uas

    work = Path(tempfile.mkdtemp(prefix="person_load_"))
    print(f"work dir {work}; {os.cpu_count()} cores; load {_load()} at {time.strftime('%H:%M:%S')}")
    prompts = PromptSettings(dir=work / "prompts", estate_name="测试花园", texts=SHORT_PROMPTS)
    build_default_prompts(prompts, workers=2)
    import wave

    with wave.open(str(synthesize("你好，我家楼道的灯坏了，麻烦派人修一下。", work / "speech.wav"))) as w:
        speech = w.readframes(w.getnframes())

    # ----- the hooks that time it ----------------------------------------------------------
    from desk_hotline import pct as _pct  # bench/, beside this script
    from desk_hotline import time_the_relay

    relay_ms = time_the_relay()
    lock = threading.Lock()
    bridges_up = 0
    window: dict[str, float] = {}

    original_bridge = bridge.bridge_calls

    def counted_bridge(clerk, resident, sink):  # type: ignore[no-untyped-def]
        nonlocal bridges_up
        with lock:
            bridges_up += 1
            if bridges_up == args.bridged and "start" not in window:
                window.update(start=time.monotonic(), cpu0=time.process_time())
        try:
            return original_bridge(clerk, resident, sink)
        finally:
            with lock:
                if bridges_up == args.bridged and "end" not in window:
                    window.update(end=time.monotonic(), cpu1=time.process_time())
                bridges_up -= 1

    import callcenter.calls.desk as desk_module

    desk_module.bridge_calls = counted_bridge  # type: ignore[assignment]

    with Kamailio(work / "kamailio") as proxy:
        from desk_hotline import desk_hotline  # bench/, beside this script

        hotline = desk_hotline(work, proxy.port, PromptLibrary(prompts), max_calls=args.bridged + args.intake + args.probe + 5)
        desk, agent, settings = hotline.desk, hotline.agent, hotline.settings
        clerk_dir = work / "clerk"
        clerk_dir.mkdir()
        audio.write_rtp_pcap(clerk_dir / "uas.pcap", audio.tone(1100, 3.0), codec="PCMU")
        phone, _ = start_uas("uas_answer_bye.xml", proxy.port, clerk_dir, "87000", calls=args.bridged,
                             limit=args.bridged, duration_ms=int(args.bridge_s * 1000), timeout_s=180)
        desk.transfer = TransferSettings(ring_timeout_s=20, extensions=("87000",))
        overhead_ms: list[float] = []
        original_answer = agent.answer_call

        def timed_answer(call):  # type: ignore[no-untyped-def]
            original_answer(call)
            if "start" in window and "end" not in window and call.info.caller_number == "13700000000":
                overhead_ms.append((call.answered_at_s - call.received_at_s - settings.ring_delay_s) * 1000)

        agent.answer_call = timed_answer  # type: ignore[method-assign]
        agent.start()
        rss0 = _rss_mib()
        peak = [rss0]
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(0.5):
                peak[0] = max(peak[0], _rss_mib())

        threading.Thread(target=sample, daemon=True).start()
        load_during: list[str] = []
        in_calls = [0, 0]
        try:
            # the intake callers talk on and on (RTP flows all along, each turn runs to its end)
            talk = speech * max(1, int((args.bridge_s + 25) * 16000 / len(speech)))
            intake_xml = caller_scenario(work / "intake.xml", [("speak", talk), ("pause", len(talk) // 16)],
                                         caller="13900000000")
            intake = start_sipp(str(intake_xml), proxy.port, work / "intake", service=settings.username,
                                calls=args.intake, limit=args.intake, rate=50, timeout_s=180)
            time.sleep(1.0)
            bridged = start_sipp(str(REPO / "tests/sipbench/scenarios/person_zero_wait_bye.xml"), proxy.port,
                                 work / "bridged", service=settings.username, calls=args.bridged,
                                 limit=args.bridged, rate=50, duration_ms=1000, timeout_s=180,
                                 extra=("-rtp_echo",))
            deadline = time.monotonic() + 120
            while "start" not in window and time.monotonic() < deadline:
                time.sleep(0.2)
            load_during.append(_load())
            in_calls = [sum(1 for c in hotline.ledger.list_calls(limit=500) if c.status == "answered")]
            probe_xml = caller_scenario(work / "probe.xml", [("pause", 1500)], caller="13700000000")
            probe = start_sipp(str(probe_xml), proxy.port, work / "probe", service=settings.username,
                               calls=args.probe, limit=args.probe, rate=2, timeout_s=120) if args.probe else None
            while "end" not in window and time.monotonic() < deadline + args.bridge_s:
                time.sleep(0.2)
            in_calls.append(sum(1 for c in hotline.ledger.list_calls(limit=500) if c.status == "answered"))
            if probe is not None:
                rc_pr, out_pr = finish(probe, 120)
                if rc_pr:
                    print(f"probe callers: SIPp rc={rc_pr}\n{out_pr[-1500:]}", file=sys.stderr)
            rc_b, out_b = finish(bridged, 200)
            rc_p, out_p = finish(phone, 200)
            load_during.append(_load())
            rc_i, out_i = finish(intake, 200)
            for name, rc, out in (("bridged callers", rc_b, out_b), ("clerk phone", rc_p, out_p),
                                  ("intake callers", rc_i, out_i)):
                if rc:
                    print(f"{name}: SIPp rc={rc}\n{out[-1500:]}", file=sys.stderr)
            time.sleep(3.0)  # the last calls are logged
        finally:
            stop_sampling.set()
            ledger = hotline.ledger
            hotline.stop()

    calls = ledger.list_calls(limit=500)
    ended = [c for c in calls if c.status in ("ended", "interrupted")]
    recorded = [c for c in ended if c.recording_key]
    print()
    print(f"placed {args.intake} intake + {args.bridged} bridged; logged {len(calls)}, ended {len(ended)}, "
          f"with a recording {len(recorded)}; load during the bridges {', then '.join(load_during)}")
    if "start" in window and "end" in window:
        wall = window["end"] - window["start"]
        cpu = window["cpu1"] - window["cpu0"]
        up = max(in_calls)
        print(f"all {args.bridged} bridges up for {wall:.1f} s, calls up {in_calls[0]} at the start and "
              f"{in_calls[1]} at the end: this process {100 * cpu / wall:.1f} % of one core, "
              f"{100 * cpu / wall / up:.2f} % per call (of {up})")
    else:
        print(f"the {args.bridged} bridges were never all up at once")
    if relay_ms:
        print(f"bridge relay delay caller -> clerk: n={len(relay_ms)} frames, median {statistics.median(relay_ms):.2f} ms, "
              f"p99 {_pct(relay_ms, 0.99):.2f} ms, max {max(relay_ms):.1f} ms")
    if overhead_ms:
        print(f"answer overhead while the bridges were up: n={len(overhead_ms)} of {args.probe} probe calls, "
              f"median {statistics.median(overhead_ms):.1f} ms, p99 {_pct(overhead_ms, 0.99):.1f} ms, "
              f"max {max(overhead_ms):.1f} ms (INVITE -> 200 OK beyond the {settings.ring_delay_s:.1f} s ring delay)")
    elif args.probe:
        print("answer overhead: no probe call was answered while all the bridges were up")
    print(f"RSS of this process: {rss0:.0f} MiB before the calls, peak {peak[0]:.0f} MiB while they were up")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
