"""baresip as an independent caller: says a WAV (aufile), records what it heard (sndfile)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port, require_tool

MODULES = Path("/usr/lib/baresip/modules")


@dataclass
class BaresipResult:
    returncode: int
    output: str
    heard_wav: Path | None  # what the caller's speaker got (decoded), None if no media
    said_wav: Path | None  # what the caller's microphone sent


def run_baresip_call(
    workdir: Path, target: str, source_wav: Path, seconds: int, codec: str = "PCMU"
) -> BaresipResult:
    """Dial `target` (a sip: URI), stay `seconds`, hang up; return the sndfile dumps."""
    binary = require_tool("baresip", "baresip")
    for module in ("aufile", "sndfile", "g711", "alsa", "account"):
        if not (MODULES / f"{module}.so").exists():
            raise RuntimeError(f"baresip module {module}.so missing under {MODULES}: install `baresip`")
    workdir.mkdir(parents=True, exist_ok=True)
    rtp = free_udp_block(20)
    (workdir / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen {LOOPBACK}:{free_udp_port()}",
                "sip_trans_def udp",
                # ALSA's "null" PCM: a player must exist for the decode path (and sndfile) to run.
                "audio_player alsa,null",
                "audio_alert alsa,null",
                f"audio_source aufile,{source_wav}",
                "audio_srate 8000",
                "audio_channels 1",
                f"rtp_ports {rtp}-{rtp + 19}",
                f"net_interface {LOOPBACK}",
                f"module_path {MODULES}",
                "module g711.so",
                "module aufile.so",
                "module alsa.so",
                "module sndfile.so",
                f"snd_path {workdir}",
                "module_app account.so",
                "module_app menu.so",
                "",
            ]
        )
    )
    (workdir / "accounts").write_text(f"<sip:13900139000@{LOOPBACK}>;regint=0;audio_codecs={codec}\n")
    (workdir / "contacts").write_text("")
    proc = subprocess.run(
        [binary, "-4", "-f", str(workdir), "-e", f"/dial {target}", "-t", str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 20,
    )
    heard = sorted(workdir.glob("dump-*-dec.wav"))
    said = sorted(workdir.glob("dump-*-enc.wav"))
    return BaresipResult(
        proc.returncode,
        proc.stdout + proc.stderr,
        heard[-1] if heard else None,
        said[-1] if said else None,
    )


@dataclass
class BaresipUA:
    """A baresip registered at the proxy that auto-answers (the clerk's softphone)."""

    proc: subprocess.Popen[str]
    workdir: Path
    user: str

    def finish(self, timeout_s: float = 60) -> BaresipResult:
        """Wait for its -t timeout; what it heard (sndfile dumps) and its output."""
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        heard = sorted(self.workdir.glob("dump-*-dec.wav"))
        said = sorted(self.workdir.glob("dump-*-enc.wav"))
        return BaresipResult(
            self.proc.returncode, out, heard[-1] if heard else None, said[-1] if said else None
        )


def start_baresip_ua(
    workdir: Path,
    user: str,
    proxy_port: int,
    source_wav: Path,
    seconds: int,
    codec: str = "PCMU",
    password: str | None = None,
) -> BaresipUA:
    """Start baresip registered as `user` at 127.0.0.1:proxy_port, answering calls automatically
    (saying `source_wav`, recording what it hears); it exits after `seconds`."""
    binary = require_tool("baresip", "baresip")
    workdir.mkdir(parents=True, exist_ok=True)
    rtp = free_udp_block(20)
    (workdir / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen {LOOPBACK}:{free_udp_port()}",
                "sip_trans_def udp",
                "audio_player alsa,null",
                "audio_alert alsa,null",
                f"audio_source aufile,{source_wav}",
                "audio_srate 8000",
                "audio_channels 1",
                f"rtp_ports {rtp}-{rtp + 19}",
                f"net_interface {LOOPBACK}",
                f"module_path {MODULES}",
                "module g711.so",
                "module aufile.so",
                "module alsa.so",
                "module sndfile.so",
                f"snd_path {workdir}",
                "module_app account.so",
                "module_app menu.so",
                "",
            ]
        )
    )
    auth = f";auth_pass={password}" if password is not None else ""
    (workdir / "accounts").write_text(
        f"<sip:{user}@{LOOPBACK}:{proxy_port}>;regint=60;answermode=auto;audio_codecs={codec}{auth}\n"
    )
    (workdir / "contacts").write_text("")
    proc = subprocess.Popen(
        [binary, "-4", "-f", str(workdir), "-t", str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    return BaresipUA(proc, workdir, user)


@dataclass
class BaresipCaller:
    """A baresip caller controlled while the call is up, through its `cons` module (UDP)."""

    proc: subprocess.Popen[str]
    workdir: Path
    console: tuple[str, int]

    def command(self, text: str) -> None:
        """A long command such as '/hold', '/resume', '/hangup'."""
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto((text + "\n").encode(), self.console)

    def finish(self, timeout_s: float = 60) -> BaresipResult:
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        heard = sorted(self.workdir.glob("dump-*-dec.wav"))
        said = sorted(self.workdir.glob("dump-*-enc.wav"))
        return BaresipResult(self.proc.returncode, out, heard[-1] if heard else None, said[-1] if said else None)


def start_baresip_caller(workdir: Path, target: str, source_wav: Path, seconds: int,
                         codec: str = "PCMU") -> BaresipCaller:
    """Dial `target` and stay `seconds`; `command()` sends /hold, /resume ... meanwhile."""
    binary = require_tool("baresip", "baresip")
    workdir.mkdir(parents=True, exist_ok=True)
    rtp = free_udp_block(20)
    console = (LOOPBACK, free_udp_port())
    (workdir / "config").write_text("\n".join([
        "poll_method epoll", f"sip_listen {LOOPBACK}:{free_udp_port()}", "sip_trans_def udp",
        "audio_player alsa,null", "audio_alert alsa,null", f"audio_source aufile,{source_wav}",
        "audio_srate 8000", "audio_channels 1", f"rtp_ports {rtp}-{rtp + 19}", f"net_interface {LOOPBACK}",
        f"module_path {MODULES}", "module g711.so", "module aufile.so", "module alsa.so", "module sndfile.so",
        f"snd_path {workdir}", "module cons.so", f"cons_listen {console[0]}:{console[1]}",
        "module_app account.so", "module_app menu.so", ""]))
    (workdir / "accounts").write_text(f"<sip:13900139000@{LOOPBACK}>;regint=0;audio_codecs={codec}\n")
    (workdir / "contacts").write_text("")
    proc = subprocess.Popen([binary, "-4", "-f", str(workdir), "-e", f"/dial {target}", "-t", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    return BaresipCaller(proc, workdir, console)
