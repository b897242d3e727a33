"""`callcenter serve` as a child process on the loopback bench, for tests that kill it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from callcenter.audio.settings import PromptSettings
from tests.seed_models import seed_models_into
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, *, kamailio_port: int, username: str, db_url: str,
                 prompts: PromptSettings, **sections: dict[str, Any]) -> tuple[Path, int]:
    """A config.yaml for one agent registered at kamailio as `username`; (path, panel port).
    Relative paths (the outbox: data/outbox) resolve in `workdir`, the server's cwd."""
    rtp = free_udp_block(40)
    web_port = free_tcp_port()
    config: dict[str, Any] = {
        "sip": {"server": LOOPBACK, "port": kamailio_port, "username": username, "bind_ip": LOOPBACK,
                "bind_port": free_udp_port(), "rtp_port_low": rtp, "rtp_port_high": rtp + 39,
                "answer_after_rings": 0},
        "database": {"url": db_url},
        "web": {"port": web_port, "secret_file": str(workdir / "data" / "secret.key")},
        "recording": {"root": str(workdir / "recordings")},
        "asr": {"model_dir": str(workdir / "no-model")},
        "prompts": {"dir": str(prompts.dir), "estate_name": prompts.estate_name, "texts": dict(prompts.texts)},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path, web_port


def serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    seed_models_into(config.parent)
    return subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "-c", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=config.parent)


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 180) -> None:
    """Until the panel listens: by then start() has run (recovery, outbox replay, SIP registration)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"callcenter serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"callcenter serve did not come up:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
