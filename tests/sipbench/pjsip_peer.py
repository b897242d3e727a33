"""PJSIP (pjsua2-python) as a scripted caller, run in its own process:

    python -m tests.sipbench.pjsip_peer PLAN.json

PLAN: {"target": "sip:hotline@127.0.0.1:5060", "transport": "udp"|"tcp", "rtp_port": 40000,
       "play": "say.wav" (8 kHz mono WAV, looped), "record": "heard.wav", "duration": 20,
       "events": "events.jsonl", "log": "pjsip.log",
       "steps": [{"at": 3.0, "do": "reinvite_new_port"}, {"at": 6, "do": "hold"},
                 {"at": 9, "do": "hold_inactive"}, {"at": 12, "do": "unhold"}, {"at": 15, "do": "hangup"}]}
`at` counts from the call's confirmation (ACK sent). Events (one JSON object a line, with `t` in
seconds of CLOCK_MONOTONIC, which the test process shares): state, media (local and remote RTP
address after every offer/answer), step, done.

PJSIP is what Asterisk's chan_pjsip and most desk phones run: its re-INVITE with PJSUA_CALL_REINIT_MEDIA
re-creates the media transport (a new local RTP port), its hold is a sendonly re-INVITE, and
PJSUA_CALL_SET_MEDIA_DIR with PJMEDIA_DIR_NONE sends a=inactive.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj


class Peer:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.events = Path(plan["events"]).open("a", buffering=1)  # noqa: SIM115  # closed in run()
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "pjsip-peer"
        cfg.logConfig.level = 5
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.filename = plan.get("log", "")
        cfg.medConfig.noVad = not plan.get("vad", False)
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        self.ep.libInit(cfg)
        transport = pj.TransportConfig()
        transport.boundAddress = "127.0.0.1"
        transport.port = 0
        kind = pj.PJSIP_TRANSPORT_TCP if plan.get("transport") == "tcp" else pj.PJSIP_TRANSPORT_UDP
        self.ep.transportCreate(kind, transport)
        self.ep.audDevManager().setNullDev()
        for codec in self.ep.codecEnum2():
            keep = codec.codecId.split("/")[0].upper() in ("PCMU", "PCMA", "TELEPHONE-EVENT")
            self.ep.codecSetPriority(codec.codecId, 200 if codec.codecId.startswith("PCMU") else (100 if keep else 0))
        self.ep.libStart()
        acfg = pj.AccountConfig()
        acfg.idUri = "sip:13700137000@127.0.0.1"
        acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        acfg.mediaConfig.transportConfig.port = int(plan.get("rtp_port", 40000))
        acfg.mediaConfig.transportConfig.portRange = 40
        acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
        acfg.natConfig.iceEnabled = False
        acfg.callConfig.timerUse = pj.PJSUA_SIP_TIMER_OPTIONAL
        acfg.callConfig.prackUse = pj.PJSUA_100REL_MANDATORY if plan.get("require_100rel") else pj.PJSUA_100REL_NOT_USED
        self.account = pj.Account()
        self.account.create(acfg)
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.call: Call | None = None
        self.confirmed_at: float | None = None
        self.disconnected = False

    def emit(self, kind: str, **data: Any) -> None:
        self.events.write(json.dumps({"t": time.monotonic(), "event": kind, **data}) + "\n")

    def run(self) -> None:
        plan = self.plan
        self.call = Call(self, self.account)
        prm = pj.CallOpParam(True)
        self.call.makeCall(plan["target"], prm)
        steps = sorted(plan.get("steps", []), key=lambda s: s["at"])
        deadline = time.monotonic() + float(plan.get("duration", 20)) + 15
        while time.monotonic() < deadline and not self.disconnected:
            self.ep.libHandleEvents(10)
            if self.confirmed_at is None:
                continue
            elapsed = time.monotonic() - self.confirmed_at
            while steps and elapsed >= steps[0]["at"]:
                self.step(steps.pop(0)["do"])
            if elapsed >= float(plan.get("duration", 20)):
                self.step("hangup")
                break
        end = time.monotonic() + 3
        while time.monotonic() < end and not self.disconnected:
            self.ep.libHandleEvents(10)
        self.emit("done", disconnected=self.disconnected)
        # Destroy media objects on this (the registered) thread, then exit without letting the
        # interpreter's finalizers call into pjlib from an unregistered thread.
        self.recorder = None  # closes the WAV
        self.player = None
        self.call = None
        self.ep.libDestroy()
        self.events.close()
        os._exit(0)

    def step(self, what: str) -> None:
        call = self.call
        assert call is not None
        self.emit("step", do=what)
        try:
            if what == "reinvite_new_port":
                prm = pj.CallOpParam(True)
                prm.opt.flag = pj.PJSUA_CALL_REINIT_MEDIA
                call.reinvite(prm)
            elif what == "update_new_port":
                prm = pj.CallOpParam(True)
                prm.opt.flag = pj.PJSUA_CALL_REINIT_MEDIA
                call.update(prm)
            elif what == "hold":
                call.setHold(pj.CallOpParam(True))
            elif what == "hold_inactive":
                prm = pj.CallOpParam(True)
                prm.opt.flag = pj.PJSUA_CALL_SET_MEDIA_DIR
                prm.opt.mediaDir = pj.IntVector([pj.PJMEDIA_DIR_NONE])
                call.reinvite(prm)
            elif what == "unhold":
                prm = pj.CallOpParam(True)
                prm.opt.flag = pj.PJSUA_CALL_UNHOLD | pj.PJSUA_CALL_SET_MEDIA_DIR
                prm.opt.mediaDir = pj.IntVector([pj.PJMEDIA_DIR_ENCODING_DECODING])
                call.reinvite(prm)
            elif what == "hangup":
                call.hangup(pj.CallOpParam(True))
        except pj.Error as exc:
            self.emit("error", step=what, info=exc.info())


class Call(pj.Call):
    def __init__(self, peer: Peer, account: pj.Account) -> None:
        super().__init__(account)
        self.peer = peer

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        self.peer.emit("state", state=info.stateText, code=info.lastStatusCode)
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.peer.confirmed_at is None:
            self.peer.confirmed_at = time.monotonic()
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.peer.disconnected = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            local = remote = ""
            try:
                transport = self.getMedTransportInfo(index)
                local, remote = transport.localRtpName, transport.srcRtpName
                stream = self.getStreamInfo(index)
                remote = stream.remoteRtpAddress
            except pj.Error:
                pass
            self.peer.emit("media", status=int(media.status), dir=int(media.dir), local=local, remote=remote)
            if media.status not in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                continue
            audio = self.getAudioMedia(index)
            plan = self.peer.plan
            if self.peer.player is None and plan.get("play"):
                self.peer.player = pj.AudioMediaPlayer()
                self.peer.player.createPlayer(plan["play"], 0)
            if self.peer.recorder is None and plan.get("record"):
                self.peer.recorder = pj.AudioMediaRecorder()
                self.peer.recorder.createRecorder(plan["record"])
            if self.peer.player is not None:
                self.peer.player.startTransmit(audio)
            if self.peer.recorder is not None:
                audio.startTransmit(self.peer.recorder)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    Peer(plan).run()


if __name__ == "__main__":
    main()
