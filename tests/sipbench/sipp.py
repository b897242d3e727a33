"""Running SIPp scenarios (tests/sipbench/scenarios/*.xml) against kamailio or the agent."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port, require_tool

SCENARIOS = Path(__file__).parent / "scenarios"


@dataclass
class SippResult:
    returncode: int  # 0: all calls succeeded, 1: some failed (sipp's own codes)
    stdout: str
    stderr: str
    workdir: Path
    command: list[str]

    def files(self, pattern: str) -> list[Path]:
        return sorted(self.workdir.glob(pattern))

    def explain(self) -> str:
        errors = "".join(p.read_text(errors="replace")[-3000:] for p in self.files("*_errors.log"))
        return f"sipp {' '.join(self.command)} -> {self.returncode}\n{self.stdout[-2500:]}\n{self.stderr[-1500:]}\n{errors}"


def sipp_command(
    scenario: str,
    target_port: int,
    *,
    service: str = "hotline",
    calls: int = 1,
    limit: int = 1,
    rate: float | None = None,
    duration_ms: int | None = None,
    timeout_s: int = 60,
    extra: tuple[str, ...] = (),
) -> list[str]:
    sipp = require_tool("sipp", "sip-tester")
    path = SCENARIOS / scenario
    if not path.exists():
        raise FileNotFoundError(f"no SIPp scenario {path}")
    # SIPp's media (pcap play, rtp_stream) uses ports from -mp upward.
    media = free_udp_block(4 * max(limit, 1) + 8)
    cmd = [
        sipp,
        f"{LOOPBACK}:{target_port}",
        "-s",
        service,
        "-i",
        LOOPBACK,
        "-p",
        str(free_udp_port()),
        "-mp",
        str(media),
        "-m",
        str(calls),
        "-l",
        str(limit),
        "-sf",
        str(path),
        "-nostdin",
        "-timeout",
        str(timeout_s),
        "-timeout_error",
        "-trace_err",
    ]
    if rate is not None:
        cmd += ["-r", str(rate)]
    if duration_ms is not None:
        cmd += ["-d", str(duration_ms)]
    return cmd + list(extra)


def run_sipp(scenario: str, target_port: int, workdir: Path, **kwargs: object) -> SippResult:
    """Run SIPp to completion (its own -timeout bounds it) in `workdir`; traces land there."""
    workdir.mkdir(parents=True, exist_ok=True)
    timeout_s = int(kwargs.get("timeout_s", 60))  # type: ignore[call-overload]
    cmd = sipp_command(scenario, target_port, **kwargs)  # type: ignore[arg-type]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout_s + 15)
    return SippResult(proc.returncode, proc.stdout, proc.stderr, workdir, cmd)


def start_sipp(scenario: str, target_port: int, workdir: Path, **kwargs: object) -> subprocess.Popen[str]:
    """Start SIPp in the background (for tests that act while the call is up)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = sipp_command(scenario, target_port, **kwargs)  # type: ignore[arg-type]
    return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def sipp_port(proc: subprocess.Popen[str]) -> int:
    """The SIP port (-p) a started SIPp listens on."""
    args = list(proc.args)  # type: ignore[arg-type]
    return int(args[args.index("-p") + 1])


def start_uas(
    scenario: str, proxy_port: int, workdir: Path, user: str, password: str | None = None, **kwargs: object
) -> tuple[subprocess.Popen[str], int]:
    """Start a SIPp called party (scenario beginning with <recv INVITE>) and REGISTER it at the
    proxy as `user`, so INVITEs for `user` reach it. Returns the process and its SIP port."""
    proc = start_sipp(scenario, proxy_port, workdir, service=user, **kwargs)
    port = sipp_port(proc)
    result = register_contact(proxy_port, user, port, workdir / "register", password)
    if result.returncode != 0:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"could not register {user} -> {port}:\n{result.explain()}")
    return proc, port


def register_contact(
    proxy_port: int, user: str, contact_port: int, workdir: Path, password: str | None = None
) -> SippResult:
    """REGISTER `user` at the proxy with Contact 127.0.0.1:contact_port (register.xml)."""
    extra: tuple[str, ...] = ("-key", "contact_port", str(contact_port))
    if password is not None:
        extra += ("-au", user, "-ap", password)
    return run_sipp("register.xml", proxy_port, workdir, service=user, timeout_s=15, extra=extra)


def finish(proc: subprocess.Popen[str], timeout_s: float = 60) -> tuple[int, str]:
    """Wait for a started SIPp; its return code and output (stdout + stderr + error log)."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    args = list(proc.args)  # type: ignore[arg-type]
    return proc.returncode, f"sipp {' '.join(args)} -> {proc.returncode}\n{out[-2500:]}\n{err[-1500:]}"
