"""An urgent caller: from the end of the caller's words to the duty phone's INVITE and the urgent
notice, on loopback through kamailio.

Run from the repository root:

    .venv/bin/python bench/urgent_escalation.py [--calls 10]

Each round: a SIPp duty phone registers at a private kamailio (answers after one 180 and 300 ms,
hangs up once the caller has been bridged a few seconds); a SIPp caller calls the real hotline (PyVoipAgent, HotlineHandler with the
staff desk, recorder, ledger on a temporary SQLite) and says
「我家燃气漏了，屋里全是味，赶紧派人来」 (espeak-ng cmn, 8 kHz) 7 s in, once the agent asks (greeting,
「人工服务请按零」, 「请说房号」 are over), or with --over-greeting at once, over the greeting; then it
waits for the agent's BYE.

The Mandarin Vosk model cannot be installed here, so the recognizer is the scripted double of
tests/doubles.py: it has really been fed the call's audio and gives the sentence at the end of the
turn. What is measured is therefore everything but Vosk's own final-result time (bench/asr_rtf.py
measures the engine): the endpointer's end-of-turn silence (`vad.end_silence_ms`, 600 ms here),
drafting the live text, the urgent step and the dial.

Printed per run (median, max):
- end of speech -> urgent step: from the last voiced caller frame (RMS > 300) reaching the call's
  session to the urgent `call.person` event on the bus (its audit row is written; the board's
  websocket forwards it and the workflow's urgent notice reacts to it);
- end of speech -> duty INVITE: to the INVITE's datagram leaving the agent's SIP socket;
- the length of the gas safety prompt the caller hears meanwhile.
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

GAS = "我家燃气漏了，屋里全是味，赶紧派人来"


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--over-greeting", action="store_true",
                        help="the caller speaks at once, over the greeting (else 7 s in, when asked)")
    args = parser.parse_args()

    import wave

    import numpy as np

    from callcenter.audio.prompt_build import build_default_prompts, synthesize
    from callcenter.audio.prompts import PromptLibrary
    from callcenter.audio.settings import PromptSettings
    from callcenter.calls.session import CallSession
    from callcenter.staffing.settings import RosterMember, TransferSettings
    from tests.calls.callers import caller_scenario
    from tests.calls.conftest import SHORT_PROMPTS
    from tests.doubles import ScriptedFactoryDouble, scripted_builder
    from tests.sipbench import audio
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import finish, start_sipp, start_uas

    work = Path(tempfile.mkdtemp(prefix="urgent_escalation_"))
    print(f"work dir {work}")
    prompts = PromptSettings(dir=work / "prompts", estate_name="测试花园", texts=SHORT_PROMPTS)
    build_default_prompts(prompts, workers=2)
    library = PromptLibrary(prompts)
    safety_s = len(library.get("safety_gas")) / 16000
    with wave.open(str(synthesize(GAS, work / "gas.wav", voice="cmn"))) as w:
        speech = w.readframes(w.getnframes())
    # then the quiet of a room (RMS ~30) for 40 s: a phone sends RTP all call long, and the agent
    # would end a call that falls silent on the wire for rtp_timeout_s (15 s)
    room = (np.random.default_rng(7).normal(0, 30, 8000 * 40)).astype("<i2").tobytes()

    # ----- the hooks that time it --------------------------------------------------------------
    lock = threading.Lock()
    voiced: dict[str, float] = {}  # call id -> when its last voiced frame arrived
    invites: list[float] = []
    notices: list[float] = []
    original_audio = CallSession.on_caller_audio

    def on_caller_audio(self: CallSession, pcm16: bytes, rtp_timestamp: int) -> None:
        samples = np.frombuffer(pcm16, dtype="<i2").astype(float)
        if len(samples) and float(np.sqrt((samples ** 2).mean())) > 300:
            with lock:
                voiced[self.call_id] = time.monotonic()
        original_audio(self, pcm16, rtp_timestamp)

    CallSession.on_caller_audio = on_caller_audio  # type: ignore[method-assign]

    with Kamailio(work / "kamailio") as proxy:
        from desk_hotline import desk_hotline  # bench/, beside this script

        hotline = desk_hotline(work, proxy.port, library, scripted_builder(ScriptedFactoryDouble([GAS])))
        ledger, desk, agent, settings = hotline.ledger, hotline.desk, hotline.agent, hotline.settings

        def on_event(event) -> None:  # type: ignore[no-untyped-def]
            if event.type == "call.person" and event.data.get("step") == "urgent":
                with lock:
                    notices.append(time.monotonic())

        ledger.bus.add_listener(on_event)
        send = agent._send

        def timed_send(data: bytes, peer):  # type: ignore[no-untyped-def]
            if data.startswith(b"INVITE sip:88"):
                with lock:
                    invites.append(time.monotonic())
            return send(data, peer)

        agent._send = timed_send  # type: ignore[method-assign]
        agent.start()
        lead_in: list[tuple[str, object]] = [] if args.over_greeting else [("pause", 7000)]
        to_notice: list[float] = []
        to_invite: list[float] = []
        try:
            for i in range(args.calls):
                duty = f"88{i:03d}"
                desk.transfer = TransferSettings(ring_timeout_s=10,
                                                 duty_roster=(RosterMember(name="保安室", number=duty),))
                dw = work / f"duty{i}"
                dw.mkdir()
                audio.write_rtp_pcap(dw / "uas.pcap", audio.tone(1100, 1.0), codec="PCMU")
                phone, _ = start_uas("uas_answer_bye.xml", proxy.port, dw, duty, duration_ms=int(safety_s * 1000) + 3000)
                with lock:
                    before_invites, before_notices = len(invites), len(notices)
                    voiced.clear()
                scenario = caller_scenario(work / f"caller{i}.xml",
                                           [*lead_in, ("speak", speech + room), ("pause", len(speech) // 16 + 500)],
                                           hang_up="agent")
                caller = start_sipp(str(scenario), proxy.port, work / f"caller{i}", service=settings.username,
                                    timeout_s=90)
                rc_phone, out_phone = finish(phone, 90)
                rc_caller, out_caller = finish(caller, 90)
                if rc_phone or rc_caller:
                    print(f"round {i}: duty rc={rc_phone} caller rc={rc_caller}\n{out_phone}\n{out_caller}",
                          file=sys.stderr)
                with lock:
                    ours_invite, ours_notice = invites[before_invites:], notices[before_notices:]
                    spoke = list(voiced.values())
                if not (ours_invite and ours_notice and spoke):
                    print(f"round {i}: missing INVITE/notice/speech ({len(ours_invite)}, {len(ours_notice)}, "
                          f"{len(spoke)})", file=sys.stderr)
                    continue
                # the last voiced frame before the notice (the duty phone's own audio never reaches
                # the caller's session before the bridge)
                end = spoke[0]
                to_notice.append((ours_notice[0] - end) * 1000)
                to_invite.append((ours_invite[0] - end) * 1000)
                print(f"round {i}: end of speech -> urgent step {to_notice[-1]:.0f} ms, -> duty INVITE {to_invite[-1]:.0f} ms")
        finally:
            hotline.stop()

    print()
    print(f"gas safety prompt: {safety_s:.1f} s")
    for name, values in (("end of speech -> urgent step", to_notice), ("end of speech -> duty INVITE", to_invite)):
        if values:
            print(f"{name}: n={len(values)} median {statistics.median(values):.0f} ms, max {max(values):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
