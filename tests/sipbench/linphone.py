"""Linphone (Debian's linphone-cli, `linphonec`) as a scripted caller.

What it needs here (SIP_NOTES): `use_ipv6=0` and `bind_address=127.0.0.1` in [sip] (on a
dual-stack host it otherwise offers c=IN IP6 media), a writable data directory (XDG_DATA_HOME),
and 'soundcard use files' (no sound card: it says a WAV with `play` and records what it hears
with `record`). Commands are typed on its standard input at chosen times: `call <uri>`, `pause`
(hold: a sendonly re-INVITE), `resume`, `terminate`, `quit`. It offers telephone-event at 48 kHz
and at 8 kHz.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port, require_tool

CONNECT_WAIT_S = 30.0


@dataclass
class LinphoneResult:
    returncode: int | None
    output: str
    heard_wav: Path
    log: Path
    sent_at: dict[str, float]  # command -> monotonic time it was typed

    def explain(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return f"linphonec -> {self.returncode}\n{self.output[-3000:]}\n{tail}"


def run_linphone_call(workdir: Path, target: str, say_wav: Path, script: list[tuple[float, str]],
                      ipv6: bool = False) -> LinphoneResult:
    """Call `target`, then type each (seconds after the call is connected, command) of `script`;
    'quit' is typed after the last one. The clock starts when linphonec says the call is connected
    (on a loaded machine its start-up and the INVITE took over 3 s, and a 'pause' typed before the
    call existed was ignored), or CONNECT_WAIT_S after the call command if it never does."""
    binary = require_tool("linphonec", "linphone-cli")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    (workdir / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
    rtp = free_udp_block(20)
    sip_port = free_udp_port()
    rc = workdir / "linphonerc"
    rc.write_text("\n".join([
        "[sip]", f"use_ipv6={1 if ipv6 else 0}", f"bind_address={LOOPBACK}", f"sip_port={sip_port}",
        f'contact="Linphone" <sip:13500135000@{LOOPBACK}:{sip_port}>',
        # Without ipv6_migration_done, linphone 5 turns IPv6 on at start whatever use_ipv6 says.
        "ipv6_migration_done=1", "sip_tcp_port=0", "guess_hostname=0", "inc_timeout=30", "",
        # The media address it advertises: 127.0.0.1, or (ipv6) its host's IPv6 address as a
        # dual-stack Linphone does (such offers are refused, so nothing is ever sent there).
        "[rtp]", f"audio_rtp_port={rtp}-{rtp + 19}", *([] if ipv6 else [f"bind_address={LOOPBACK}"]), "",
        "[sound]", "echocancellation=0", "",
        "[net]", "firewall_policy=0", "",
        "[misc]", "max_calls=1", ""]))
    heard = workdir / "heard.wav"
    log = workdir / "linphonec.log"
    env = {"HOME": str(workdir), "XDG_DATA_HOME": str(workdir / "data"), "XDG_CONFIG_HOME": str(workdir),
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([binary, "-c", str(rc), "-d", "6", "-l", str(log)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    assert proc.stdin is not None and proc.stdout is not None
    sent_at: dict[str, float] = {}
    lines: list[str] = []
    connected = threading.Event()

    def read(stdout: IO[str]) -> None:  # linphonec's console, as it comes
        for line in stdout:
            lines.append(line)
            if "connected" in line.lower():
                connected.set()

    reader = threading.Thread(target=read, args=(proc.stdout,), name="linphonec-out", daemon=True)
    reader.start()

    def type_(command: str) -> None:
        assert proc.stdin is not None
        sent_at.setdefault(command.split(" ", 1)[0], time.monotonic())
        proc.stdin.write(command + "\n")
        proc.stdin.flush()

    try:
        for command in ("soundcard use files", f"play {say_wav}", f"record {heard}"):
            type_(command)
        time.sleep(0.5)
        type_(f"call {target}")
        connected.wait(CONNECT_WAIT_S)
        start = time.monotonic()
        for at, command in sorted(script):
            time.sleep(max(0.0, start + at - time.monotonic()))
            type_(command)
        time.sleep(1.0)
        type_("quit")
        proc.wait(timeout=20)
    except (subprocess.TimeoutExpired, BrokenPipeError):
        proc.kill()
        proc.wait()
    reader.join(5)
    return LinphoneResult(proc.returncode, "".join(lines), heard, log, sent_at)
