"""Kamailio as a loopback registrar/proxy, from Debian's stock kamailio.cfg with SIP_NOTES' edits."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from tests.sipbench.tools import LOOPBACK, free_tcp_udp_port, free_udp_port, require_tool

STOCK_CFG = Path("/etc/kamailio/kamailio.cfg")
# pyVoIP-era agents do not echo Record-Route, so a caller's BYE may arrive without Route:
# relay in-dialog requests that are not for the proxy itself instead of answering 404.
_WITHINDLG_FIX = (
    '\tif (uri != myself) {\n\t\troute(RELAY);\n\t\texit;\n\t}\n\tsl_send_reply("404","Not here");'
)


def make_config(workdir: Path, port: int, register_password: str | None = None, *, tcp: bool = False,
                max_expires: int | None = None, min_expires: int | None = None,
                drop_first_bye: bool = False) -> Path:
    """Debian's kamailio.cfg with SIP_NOTES' edits; with `register_password`, REGISTER must pass a
    digest challenge (any user, that password), as a PBX or SIP trunk demands.
    `tcp`: also listen on TCP (same port). `max_expires`: the registrar grants at most this.
    `min_expires`: shorter registrations are refused with 423 Interval Too Brief + Min-Expires.
    `drop_first_bye`: the first BYE of every call is dropped (a lost packet, seen in the log)."""
    if not STOCK_CFG.exists():
        raise RuntimeError(f"{STOCK_CFG} missing: install the Debian package `kamailio`")
    cfg = STOCK_CFG.read_text()
    listen = f"listen=udp:{LOOPBACK}:{port}\n" + (f"listen=tcp:{LOOPBACK}:{port}\n" if tcp else "disable_tcp=yes")
    cfg, n = re.subn(r"(?m)^children=\d+", f"children=2\n{listen}", cfg)
    if n != 1:
        raise RuntimeError("stock kamailio.cfg changed: no `children=` line to edit")
    cfg = cfg.replace(
        'modparam("jsonrpcs", "pretty_format", 1)',
        'modparam("jsonrpcs", "pretty_format", 1)\n'
        f'modparam("jsonrpcs", "fifo_name", "{workdir}/kamailio_rpc.fifo")\n'
        f'modparam("jsonrpcs", "dgram_socket", "{workdir}/kamailio_rpc.sock")\n'
        f'modparam("ctl", "binrpc", "unix:{workdir}/kamailio_ctl")',
    )
    withindlg = cfg.index("route[WITHINDLG]")
    not_here = cfg.index('\tsl_send_reply("404","Not here");', withindlg)
    cfg = cfg[:not_here] + _WITHINDLG_FIX + cfg[not_here + len('\tsl_send_reply("404","Not here");') :]
    registrar = []
    if max_expires is not None:
        registrar.append(f'modparam("registrar", "max_expires", {max_expires})')
        cfg = cfg.replace('modparam("registrar", "max_expires", 3600)\n', "")
    if min_expires is not None:
        registrar += [f'modparam("registrar", "min_expires", {min_expires})',
                      'modparam("registrar", "min_expires_mode", 1)']
    if registrar:
        cfg = cfg.replace('modparam("registrar", "method_filtering", 1)',
                          'modparam("registrar", "method_filtering", 1)\n' + "\n".join(registrar), 1)
    if drop_first_bye:
        cfg = cfg.replace('loadmodule "counters.so"', 'loadmodule "counters.so"\nloadmodule "htable.so"', 1)
        cfg = cfg.replace('modparam("registrar", "method_filtering", 1)',
                          'modparam("registrar", "method_filtering", 1)\n'
                          'modparam("htable", "htable", "byes=>size=8;autoexpire=300;")', 1)
        cfg = cfg.replace("request_route {\n", "request_route {\n"
                          '\tif (is_method("BYE") && $sht(byes=>$ci) == $null) {\n'
                          '\t\t$sht(byes=>$ci) = 1;\n\t\txlog("L_NOTICE", "bench: dropped the first BYE of $ci from $si:$sp\\n");\n'
                          "\t\tdrop;\n\t\texit;\n\t}\n", 1)
    if register_password is not None:
        cfg = cfg.replace('loadmodule "counters.so"', 'loadmodule "counters.so"\nloadmodule "auth.so"', 1)
        anchor = 'route[REGISTRAR] {\n\tif (!is_method("REGISTER")) return;\n'
        if anchor not in cfg:
            raise RuntimeError("stock kamailio.cfg changed: route[REGISTRAR] not found")
        cfg = cfg.replace(anchor, anchor + (
            f'\tif (!pv_www_authenticate("$td", "{register_password}", "0")) {{\n'
            '\t\twww_challenge("$td", "0");\n\t\texit;\n\t}\n'), 1)
    path = workdir / "kamailio.cfg"
    path.write_text(cfg)
    return path


class Kamailio:
    """A running kamailio on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(self, workdir: Path, port: int | None = None, register_password: str | None = None,
                 **options: object) -> None:
        """`options`: tcp, max_expires, min_expires, drop_first_bye (see make_config)."""
        self.binary = require_tool("kamailio", "kamailio")
        self.workdir = workdir
        self.port = port or (free_tcp_udp_port() if options.get("tcp") else free_udp_port())
        self.register_password = register_password
        self.options = options
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Kamailio:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = make_config(self.workdir, self.port, self.register_password, **self.options)  # type: ignore[arg-type]
        check = subprocess.run(
            [self.binary, "-f", str(cfg), "-c"], capture_output=True, text=True, timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"kamailio rejected {cfg}:\n{check.stderr[-3000:]}")
        self.log_path = self.workdir / "kamailio.log"
        log = self.log_path.open("ab")  # appended: a restarted proxy keeps the earlier lines
        cmd = [
            self.binary,
            "-f",
            str(cfg),
            "-P",
            str(self.workdir / "k.pid"),
            "-DD",
            "-E",
            "-w",
            str(self.workdir),
        ]
        # Its own process group: kamailio forks workers that hold the sockets; kill() ends them all.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(timeout_s=15)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Ready once it answers an OPTIONS keep-alive (the stock script replies 200)."""
        deadline = time.monotonic() + timeout_s
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            sock.settimeout(0.2)
            me = sock.getsockname()
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"kamailio exited ({self.proc.returncode}):\n{self.log_tail()}")
                sock.sendto(options_request(LOOPBACK, self.port, me), (LOOPBACK, self.port))
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    continue
                if data.startswith(b"SIP/2.0 200"):
                    return
        raise RuntimeError(
            f"kamailio on {LOOPBACK}:{self.port} not ready in {timeout_s} s:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except (OSError, AttributeError):
            return ""

    def location(self) -> str:
        """`ul.dump` output (registered contacts), via the ctl socket in the work dir."""
        kamcmd = require_tool("kamcmd", "kamailio")
        out = subprocess.run(
            [kamcmd, "-s", f"unix:{self.workdir}/kamailio_ctl", "ul.dump"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout + out.stderr

    def kill(self) -> None:
        """kill -9: a registrar that crashes (its in-memory location table is lost)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def options_request(host: str, port: int, me: tuple[str, int], user: str = "") -> bytes:
    """A minimal OPTIONS from `me` to host:port."""
    target = f"sip:{user + '@' if user else ''}{host}:{port}"
    tag = uuid.uuid4().hex[:8]
    lines = [
        f"OPTIONS {target} SIP/2.0",
        f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
        "Max-Forwards: 70",
        f"From: <sip:bench@{me[0]}>;tag={tag}",
        f"To: <{target}>",
        f"Call-ID: {uuid.uuid4().hex}@bench",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
