"""Running the PJSIP peer (pjsip_peer.py) from a test: a plan in, events and WAVs out."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.sipbench.tools import free_udp_block

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PjsipResult:
    returncode: int
    output: str
    events: list[dict[str, Any]]
    heard_wav: Path
    log: Path

    def first(self, event: str, **match: Any) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == event
                     and all(e.get(k) == v for k, v in match.items())), None)

    def all(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]

    def explain(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        return f"pjsip peer -> {self.returncode}\n{self.output[-2000:]}\nevents: {self.events}\n{tail}"


def start_pjsip_call(workdir: Path, target: str, say_wav: Path, duration_s: float,
                     steps: list[dict[str, Any]] | None = None, **options: Any) -> tuple[subprocess.Popen[str], Path]:
    """Start the PJSIP caller; `options` go into the plan (transport, require_100rel, ...)."""
    workdir.mkdir(parents=True, exist_ok=True)
    plan = {"target": target, "transport": "udp", "rtp_port": free_udp_block(40), "play": str(say_wav),
            "record": str(workdir / "heard.wav"), "duration": duration_s, "events": str(workdir / "events.jsonl"),
            "log": str(workdir / "pjsip.log"), "steps": steps or [], **options}
    (workdir / "events.jsonl").write_text("")
    path = workdir / "plan.json"
    path.write_text(json.dumps(plan))
    proc = subprocess.Popen([sys.executable, "-m", "tests.sipbench.pjsip_peer", str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, workdir


def finish_pjsip_call(proc: subprocess.Popen[str], workdir: Path, timeout_s: float) -> PjsipResult:
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    events = [json.loads(line) for line in (workdir / "events.jsonl").read_text().splitlines() if line.strip()]
    return PjsipResult(proc.returncode, out, events, workdir / "heard.wav", workdir / "pjsip.log")


def run_pjsip_call(workdir: Path, target: str, say_wav: Path, duration_s: float,
                   steps: list[dict[str, Any]] | None = None, **options: Any) -> PjsipResult:
    proc, workdir = start_pjsip_call(workdir, target, say_wav, duration_s, steps, **options)
    return finish_pjsip_call(proc, workdir, duration_s + 40)
