"""Record the SIP datagrams real peers send to the agent: the fuzzer's seed corpus.

    .venv/bin/python -m tests.fuzz.capture_corpus [OUTDIR]     (default tests/fuzz/corpus)

Starts kamailio (one open, one demanding digest auth), a PyVoipAgent registered at each, and
drives real callers at it: SIPp scenarios through the proxy and straight to the agent, baresip
through the proxy, and an outbound call from the agent to a registered baresip. The agent's SIP
socket is wrapped by a tap that writes every datagram it receives, byte-exact, to OUTDIR/sip/
(retransmissions deduplicated). RTP seeds come from the RTP captures Debian's sip-tester ships
(/usr/share/sip-tester/*.pcap) and go to OUTDIR/rtp/ as hex.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callcenter.telephony.agent import PyVoipAgent
from callcenter.telephony.settings import SipSettings
from tests.sipbench import audio
from tests.sipbench.baresip import run_baresip_call, start_baresip_ua
from tests.sipbench.doubles import ScriptedHandler
from tests.sipbench.kamailio import Kamailio
from tests.sipbench.sipp import run_sipp
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
SIPP_PCAPS = Path("/usr/share/sip-tester")


class SocketTap:
    """Stands in for the agent's SIP socket: every received datagram is also handed to `record`."""

    def __init__(self, sock: socket.socket, record: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._sock = sock
        self._record = record

    def fileno(self) -> int:
        return self._sock.fileno()

    def recvfrom(self, size: int, flags: int = 0) -> tuple[bytes, Any]:
        data, addr = self._sock.recvfrom(size, flags)
        self._record(data, addr)
        return data, addr

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Corpus:
    def __init__(self, outdir: Path) -> None:
        self.dir = outdir / "sip"
        self.seen: set[str] = set()
        self.label = "setup"
        self.count = 0
        self.lock = threading.Lock()

    def record(self, data: bytes, addr: tuple[str, int]) -> None:
        digest = hashlib.sha1(data).hexdigest()
        with self.lock:
            if digest in self.seen or not data.strip():
                return
            self.seen.add(digest)
            self.count += 1
            first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            kind = first.split(" ")[1] if first.startswith("SIP/2.0 ") else first.split(" ")[0]
            cseq = re.search(rb"(?im)^CSeq:\s*\d+\s+(\w+)", data)
            if first.startswith("SIP/2.0 ") and cseq:
                kind += "-" + cseq.group(1).decode()
            name = f"{self.count:03d}_{self.label}_{re.sub(r'[^A-Za-z0-9-]', '', kind)}.sip"
            (self.dir / name).write_bytes(data)


def tap(agent: PyVoipAgent, corpus: Corpus) -> None:
    transport = agent._transport  # the capture needs what arrives; nothing else of the agent is touched
    assert transport is not None
    deliver = transport.on_message

    def record(data: bytes, peer: Any) -> None:
        corpus.record(data, (peer[0], peer[1]))
        deliver(data, peer)

    transport.on_message = record


def make_agent(kam: Kamailio, username: str, **overrides: Any) -> tuple[PyVoipAgent, SipSettings, ScriptedHandler]:
    rtp = free_udp_block(40)
    values: dict[str, Any] = dict(server=LOOPBACK, port=kam.port, username=username, bind_ip=LOOPBACK,
                                  bind_port=free_udp_port(), rtp_port_low=rtp, rtp_port_high=rtp + 39,
                                  answer_after_rings=1, ring_period_s=1.0)
    values.update(overrides)
    settings = SipSettings(**values)
    handler = ScriptedHandler(greeting=audio.tone(440, 0.4))
    agent = PyVoipAgent(settings, handler)
    agent.start()
    return agent, settings, handler


def rtp_packets_from_pcap(path: Path, limit: int) -> list[bytes]:
    """UDP payloads of a classic pcap (Ethernet or Linux cooked capture)."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    link_len = {1: 14, 113: 16, 0: 4}.get(linktype)
    if link_len is None:
        raise ValueError(f"{path}: link type {linktype} not handled")
    out = []
    offset = 24
    while offset + 16 <= len(data) and len(out) < limit:
        incl = struct.unpack_from(endian + "I", data, offset + 8)[0]
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        ip = frame[link_len:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4 :]
        out.append(udp[8:])
    return out


def capture_rtp(outdir: Path) -> int:
    rtp_dir = outdir / "rtp"
    rtp_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, limit in (("g711a.pcap", 6), ("dtmf_2833_1.pcap", 4), ("dtmf_2833_pound.pcap", 2)):
        for i, packet in enumerate(rtp_packets_from_pcap(SIPP_PCAPS / name, limit)):
            (rtp_dir / f"{Path(name).stem}_{i}.hex").write_text(packet.hex() + "\n")
            count += 1
    return count


def capture(outdir: Path) -> int:
    sip_dir = outdir / "sip"
    if sip_dir.exists():
        shutil.rmtree(sip_dir)
    sip_dir.mkdir(parents=True)
    corpus = Corpus(outdir)
    work = Path(tempfile.mkdtemp(prefix="corpus-"))
    with Kamailio(work / "kam") as kam, Kamailio(work / "kam-auth", register_password="pw") as kam_auth:
        agent, s, handler = make_agent(kam, "hotline")
        auth_agent, _, _ = make_agent(kam_auth, "hotline-auth", password="pw")
        try:
            for a in (agent, auth_agent):
                tap(a, corpus)
            corpus.label = "register"
            assert agent._registration is not None and auth_agent._registration is not None
            agent._registration.kick()  # REGISTER responses (200) ...
            auth_agent._registration.kick()  # ... and a digest challenge (401) then 200
            time.sleep(1.0)
            runs = [
                ("sipp-proxy-call", "call_pcap_bye.xml", kam.port, {"duration_ms": 500}),
                ("sipp-direct-call", "call_pcap_bye.xml", s.bind_port, {"duration_ms": 500}),
                ("sipp-proxy-cancel", "cancel.xml", kam.port, {}),
                ("sipp-proxy-nosdp", "nosdp.xml", kam.port, {}),
                ("sipp-proxy-dtmf", "dtmf.xml", kam.port, {}),
                ("sipp-direct-options", str(SCENARIOS / "options.xml"), s.bind_port, {}),
                ("sipp-direct-info", str(SCENARIOS / "info_dtmf.xml"), s.bind_port, {}),
                ("sipp-proxy-info", str(SCENARIOS / "info_dtmf.xml"), kam.port, {}),
            ]
            for label, scenario, port, kwargs in runs:
                corpus.label = label
                result = run_sipp(scenario, port, work / label, service=s.username, **kwargs)
                print(f"{label}: sipp exit {result.returncode}", file=sys.stderr)
                time.sleep(0.5)
            corpus.label = "baresip-proxy-call"
            wav = audio.write_pcm16_wav(work / "say.wav", audio.tone(500, 3.0))
            result_b = run_baresip_call(work / "baresip", f"sip:{s.username}@{LOOPBACK}:{kam.port}", wav, 3)
            print(f"baresip call: exit {result_b.returncode}", file=sys.stderr)
            corpus.label = "baresip-outbound"
            ua = start_baresip_ua(work / "ua", "clerk", kam.port, wav, seconds=8)
            time.sleep(1.5)  # let it register
            try:
                call = agent.dial("clerk", timeout_s=5)
                time.sleep(1.0)
                call.hangup()
            except Exception as exc:  # the corpus is still useful without it
                print(f"outbound call failed: {exc}", file=sys.stderr)
            ua.finish(timeout_s=15)
            time.sleep(0.5)
        finally:
            agent.stop()
            auth_agent.stop()
    shutil.rmtree(work, ignore_errors=True)
    return corpus.count


def main() -> None:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    sip = capture(outdir)
    rtp = capture_rtp(outdir)
    print(f"captured {sip} SIP datagrams and {rtp} RTP packets into {outdir}")


if __name__ == "__main__":
    main()
