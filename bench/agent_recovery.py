"""How fast the multi-process site heals: a dead agent's calls, and the panel after a web restart.

Run from the repository root:

    .venv/bin/python bench/agent_recovery.py                      # 3 rounds each, the default lease (30 s)
    .venv/bin/python bench/agent_recovery.py --rounds 5 --lease-s 12

A private PostgreSQL cluster and kamailio on loopback, real `callcenter serve` processes
(tests/scale/test_agent_ownership.py's Site), speech recognition off (no model).

recovery   per round: an empty schema, one web process and two agents (east, west); a silent
           call on each line; east is killed with SIGKILL while both calls are up; the figure is
           the time from the kill until the ledger shows east's call interrupted with its
           recording linked (the web process's sweep: lease lapse + up to one sweep period).
resume     per round: one web process and one agent; a panel websocket (what events.js does) sees
           a call answered; the web process is killed (SIGKILL); the call ends; the web process is
           started again; figures: from its start until it listens, and from the panel's
           reconnection (`?since=`) until it has the missed call.ended.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.pipeline_load import build_prompts, load_avg  # noqa: E402  (after the sys.path line)


def reset_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


def recovery_round(url: str, proxy: object, prompts: object, root: Path, lease_s: int) -> float:
    from tests.scale.test_agent_ownership import EAST, WEST, Site

    reset_schema(url)
    site = Site(url, proxy, prompts, root / "no-model", root, lease_s=lease_s)
    calls = []
    try:
        site.start_web()
        east, _ = site.start_agents((EAST, WEST))
        calls = [site.call(EAST, 1, 2 * lease_s + 60), site.call(WEST, 2, 2 * lease_s + 60)]
        site.wait_call(EAST, "answered")
        site.wait_call(WEST, "answered")
        time.sleep(2)
        os.kill(east.pid, signal.SIGKILL)
        killed = time.monotonic()
        site.wait_call(EAST, "interrupted", 3 * lease_s + 30)
        return time.monotonic() - killed
    finally:
        for c in calls:
            if c.poll() is None:
                c.kill()
        site.stop()


def resume_round(url: str, proxy: object, prompts: object, root: Path) -> tuple[float, float]:
    from callcenter.accounts import Accounts
    from callcenter.clock import SystemClock
    from callcenter.ledger import db
    from tests.calls.callers import caller_scenario
    from tests.scale.procs import Serve, agent_config, free_tcp_port, site_config
    from tests.scale.test_event_resume import Panel
    from tests.sipbench.sipp import start_sipp
    from tests.sipbench.tools import LOOPBACK

    reset_schema(url)
    port = free_tcp_port()
    base = site_config(root, url, prompts, root / "no-model", web_port=port, mode="inprocess", max_live_streams=0)
    procs = []
    try:
        web = Serve.start("web", base, root / "web", "web")
        procs.append(web)
        web.wait_http(port)
        agent = Serve.start("agent", agent_config(base, root, proxy.port, "line-east"), root / "agent",  # type: ignore[attr-defined]
                            "agent")
        procs.append(agent)
        agent.wait_log("callcenter agent started")
        engine = db.make_engine(url)
        accounts = Accounts(engine, SystemClock())
        accounts.add_user("clerk1", "clerk", "pw-long-enough-1", "小王")
        panel = Panel(f"ws://{LOOPBACK}:{port}/api/events?token={accounts.create_token('clerk1')}")
        engine.dispose()
        panel.connect()
        scenario = caller_scenario(root / "call.xml", [("pause", 6000)], caller="13900001111")
        caller = start_sipp(str(scenario), proxy.port, root / "sipp", service="line-east", timeout_s=60)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [e for e in panel.events if e["type"] == "call.answered"]:
            time.sleep(0.05)
        call_id = [e for e in panel.events if e["type"] == "call.answered"][0]["data"]["call_id"]
        web.proc.kill()  # type: ignore[union-attr]
        web.proc.wait()  # type: ignore[union-attr]
        caller.communicate(timeout=60)
        time.sleep(2)
        started = time.monotonic()
        web2 = Serve.start("web", base, root / "web2", "web2")
        procs.append(web2)
        web2.wait_http(port)
        listening = time.monotonic() - started
        reconnected = time.monotonic()
        panel.connect()
        panel.wait("call.ended", call_id)
        return listening, time.monotonic() - reconnected
    finally:
        for p in reversed(procs):
            p.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lease-s", type=int, default=30, help="sip.agent_lease_s (default: the shipped default)")
    args = ap.parse_args()
    from callcenter.audio.settings import PromptSettings
    from tests.dbs import postgres_cluster
    from tests.sipbench.kamailio import Kamailio

    with tempfile.TemporaryDirectory(prefix="cc-recovery-") as tmp, postgres_cluster() as url, \
            Kamailio(Path(tmp) / "kamailio") as proxy:
        prompts = PromptSettings(**build_prompts(Path(tmp) / "prompts"))
        print(f"# {len(os.sched_getaffinity(0))} CPUs, load {load_avg()}; lease {args.lease_s} s, "
              f"sweep every 10 s, {args.rounds} round(s)")
        took = []
        for r in range(args.rounds):
            t = recovery_round(url, proxy, prompts, Path(tmp) / f"rec{r}", args.lease_s)
            took.append(t)
            print(f"recovery round {r + 1}: dead agent's call interrupted and linked {t:.1f} s after SIGKILL "
                  f"(load {load_avg()})", flush=True)
        print(f"recovery: median {statistics.median(took):.1f} s, max {max(took):.1f} s over {len(took)} rounds")
        resumes = []
        for r in range(args.rounds):
            listening, caught = resume_round(url, proxy, prompts, Path(tmp) / f"res{r}")
            resumes.append((listening, caught))
            print(f"resume round {r + 1}: web listening {listening:.1f} s after its start; panel had the missed "
                  f"call.ended {caught * 1000:.0f} ms after reconnecting (load {load_avg()})", flush=True)
        print(f"resume: web start→listening median {statistics.median(x for x, _ in resumes):.1f} s; "
              f"reconnect→caught up median {statistics.median(y for _, y in resumes) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
