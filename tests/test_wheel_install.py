"""callcenter installed like a product: the wheel is built from a copy of the sources, installed
into a new virtual environment outside the source tree, and that installation builds its prompts,
adds a user, serves, logs the user in, serves the panel's page and its modules, and takes a SIPp
call whose entry then shows in the API — all from the installed package (the panel and the
prompts' texts are package data).

The new environment gets callcenter from the wheel only; its third-party dependencies are this test
environment's (a `.pth` line to its site-packages: re-downloading numpy, scikit-learn and Vosk would
take minutes), and the test checks that `callcenter` itself is imported from the new environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.calls.callers import caller_scenario
from tests.sipbench.sipp import run_sipp
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port

pytestmark = [pytest.mark.sip, pytest.mark.only_db("sqlite")]  # the installation's own SQLite file

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def test_the_wheel_installs_and_serves_the_panel_and_a_call(tmp_path: Path) -> None:
    # 1. the wheel, from a copy of the sources (the build writes nothing into the source tree)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "callcenter", src / "callcenter", symlinks=False,  # panel/ -> web/ copied as files
                    ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)])
    [wheel] = list((tmp_path / "dist").glob("callcenter-*.whl"))

    # 2. a new environment outside the source tree: callcenter from the wheel only
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    purelib = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "callcenter_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    site = tmp_path / "site"
    site.mkdir()
    where = _run([str(py), "-c", "import callcenter.web.app as a; print(a.__file__); print(a.PANEL_DIR)"],
                 cwd=site).stdout.split()
    assert where[0].startswith(str(venv)) and where[1].startswith(str(venv)), where
    assert (Path(where[1]) / "index.html").is_file() and (Path(where[1]) / "static" / "main.js").is_file()

    # 3. a site: its config, its prompts built from the packaged texts, a user
    web_port, sip_port, rtp = _free_tcp_port(), free_udp_port(), free_udp_block(40)
    config = site / "callcenter.yaml"
    config.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{site}/ledger.db", "outbox_dir": str(site / "outbox")},
        "web": {"host": LOOPBACK, "port": web_port, "secret_file": str(site / "secret.key")},
        "recording": {"root": str(site / "recordings")},
        "prompts": {"dir": str(site / "prompts")},
        "asr": {"model_dir": str(site / "no-model")},
        "sip": {"mode": "direct", "bind_ip": LOOPBACK, "bind_port": sip_port, "rtp_port_low": rtp,
                "rtp_port_high": rtp + 39, "answer_after_rings": 0},
        "drafting": {"models_dir": str(site / "draft_models")},
    }, allow_unicode=True))
    cli = str(venv / "bin" / "callcenter")
    env = {k: v for k, v in os.environ.items() if k != "CALLCENTER_CONFIG"}
    _run([cli, "prompts", "build", "-c", str(config)], cwd=site, env=env)
    assert (site / "prompts" / "greeting.wav").is_file()
    _run([cli, "users", "add", "boss", "--role", "supervisor", "-c", str(config)], cwd=site, env=env,
         input="pw-long-enough-1\n")

    # 4. serve, log in, the page and a module, a call, its entry
    log = (site / "serve.log").open("wb")
    proc = subprocess.Popen([cli, "serve", "-c", str(config)], cwd=site, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (site / "serve.log").read_text(errors="replace")[-3000:]
            try:
                with socket.create_connection((LOOPBACK, web_port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        with httpx.Client(base_url=f"http://{LOOPBACK}:{web_port}", timeout=10) as http:
            page = http.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            module = http.get("/static/core/events.js")
            assert module.status_code == 200 and "export function connect" in module.text
            assert http.post("/api/auth/login", json={"username": "boss", "password": "pw-long-enough-1"}
                             ).status_code == 200
            assert http.get("/api/meta").status_code == 200

            scenario = caller_scenario(tmp_path / "call.xml", [("pause", 3000)], caller="13800138000")
            result = run_sipp(str(scenario), sip_port, tmp_path / "sipp", service="hotline", timeout_s=60)
            assert result.returncode == 0, result.explain()
            deadline = time.monotonic() + 30
            calls: list[dict] = []
            while time.monotonic() < deadline:
                calls = http.get("/api/calls").json()
                if calls and calls[0]["status"] == "ended" and calls[0]["entry_id"]:
                    break
                time.sleep(0.3)
            assert calls and calls[0]["status"] == "ended" and calls[0]["caller_number"] == "13800138000", calls
            entry = http.get(f"/api/entries/{calls[0]['entry_id']}")
            assert entry.status_code == 200 and entry.json()["caller_number"] == "13800138000"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert "Traceback" not in (site / "serve.log").read_text(errors="replace")
