"""`callcenter serve --role ...` subprocesses for tests and benchmarks: config files, start, wait, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.seed_models import seed_models_into
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def site_config(root: Path, db_url: str, prompts: Any, model_dir: Path, *, web_port: int,
                mode: str = "queue", max_live_streams: int = 0, workers: int = 1) -> dict[str, Any]:
    """What every process of one site shares: database, recordings, prompts, model, secret."""
    return {
        "database": {"url": db_url},
        "web": {"host": LOOPBACK, "port": web_port, "secret_file": str(root / "secret.key")},
        "recording": {"root": str(root / "recordings")},
        "asr": {"model_dir": str(model_dir), "mode": mode, "max_live_streams": max_live_streams,
                "workers": workers},
        "prompts": {"dir": str(prompts.dir), "estate_name": prompts.estate_name, "texts": dict(prompts.texts)},
        "logging": {"level": "INFO"},
    }


def agent_config(base: dict[str, Any], root: Path, kamailio_port: int, username: str,
                 rtp_ports: int = 120) -> dict[str, Any]:
    rtp = free_udp_block(rtp_ports)
    cfg = {k: dict(v) for k, v in base.items()}
    cfg["sip"] = {"server": LOOPBACK, "port": kamailio_port, "username": username, "bind_ip": LOOPBACK,
                  "bind_port": free_udp_port(), "rtp_port_low": rtp, "rtp_port_high": rtp + rtp_ports - 1,
                  "answer_after_rings": 0,
                  # each agent its own identity (a second agent with a live one's is refused)
                  "instance_id": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'callcenter-test/{username}')}"}
    cfg["database"]["outbox_dir"] = str(root / f"outbox-{username}")  # one outbox per agent
    return cfg


@dataclass
class Serve:
    role: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, role: str, cfg: dict[str, Any], workdir: Path, name: str) -> Serve:
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        log = workdir / f"{name}.log"
        seed_models_into(workdir)
        proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "-c", str(path), "--role", role],
                                stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=workdir,
                                # the tests read the log while it runs: nothing held in a buffer
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return cls(role, path, log, proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def wait_log(self, needle: str, timeout_s: float = 90) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.role} exited {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.2)
        raise AssertionError(f"{self.role}: no {needle!r} within {timeout_s} s:\n{self.tail()}")

    def wait_http(self, port: int, timeout_s: float = 90) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.role} exited {self.proc.returncode}:\n{self.tail()}")
            try:
                with socket.create_connection((LOOPBACK, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"{self.role} did not listen on {port}:\n{self.tail()}")

    def stop(self, timeout_s: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
