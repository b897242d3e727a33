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
