"""How concurrency scales with the number of agent processes (`callcenter serve --role agent`).

Run from the repository root:

    .venv/bin/python bench/scale_processes.py                          # 1, 2, 4 agents; 20 40 60 calls
    .venv/bin/python bench/scale_processes.py --agents 1 2 --levels 40 80 --hold-s 10

A private PostgreSQL cluster and kamailio on loopback; per agent count P: an empty schema, one web
process (panel, scheduler, event listener) and P agent processes, each registered as its own line.
Per concurrency level N, SIPp places N calls at once split evenly over the P lines
(call_pcap_bye.xml: 7.08 s of PCMA speech, held --hold-s, then BYE). Speech recognition is off
(no model: the transcript is owed, as at a site before `models fetch`) so the figures are the
telephony, recording, ledger and relay path that the agent processes share out; with --asr the
Korean Vosk model transcribes live in each agent (max_live_streams per agent as configured).

Per level it prints: calls placed; answered+ended in the ledger; lost (placed - completed);
INVITE -> 200 OK p50/p99 ms (SIPp -trace_msg; answer_after_rings 0); calls/s completed (completed /
wall time from the first INVITE until the last call ended in the ledger); CPU seconds per agent
process (and its children) and of the web process over the level; events the web process relayed;
the load average before and after (the box may be shared). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.pipeline_load import (  # noqa: E402  (after the sys.path line)
    PCAP_SPEECH_S,
    build_prompts,
    cpu_s,
    descendants,
    invite_to_ok_ms,
    korean_model_dir,
    load_avg,
    pct,
)


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children."""
    total = cpu_s(pid)
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            total += cpu_s(child)
    return total


def reset_schema(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


def start_site(p: int, args: argparse.Namespace, url: str, kamailio_port: int, prompts: Any,
               work: Path) -> tuple[Any, list[Any], list[str], int]:
    from tests.scale.procs import Serve, agent_config, free_tcp_port, site_config

    web_port = free_tcp_port()
    model = korean_model_dir() if args.asr else work / "no-model"
    base = site_config(work, url, prompts, model, web_port=web_port, mode="inprocess",
                       max_live_streams=args.live_streams if args.asr else 0)
    base["logging"] = {"level": "WARNING"}
    web = Serve.start("web", base, work / "web", "web")
    web.wait_http(web_port, timeout_s=180)
    lines = [f"scale-{p}-{k}" for k in range(p)]
    agents = []
    per_agent_max = max(args.levels) // p + 10
    for line in lines:
        cfg = agent_config(base, work, kamailio_port, line, rtp_ports=2 * per_agent_max + 40)
        cfg["sip"]["max_calls"] = per_agent_max
        cfg["sip"]["rtp_timeout_s"] = 15
        cfg["logging"] = {"level": "INFO"}  # the readiness line
        agents.append(Serve.start("agent", cfg, work / line, line))
    for agent in agents:
        agent.wait_log("callcenter agent started", timeout_s=180)
    return web, agents, lines, web_port


def run_level(n: int, args: argparse.Namespace, web: Any, agents: list[Any], lines: list[str],
              kamailio_port: int, ledger: Any, work: Path, seen: set[str]) -> dict[str, Any]:
    from tests.sipbench.sipp import SippResult, run_sipp

    shares = [n // len(lines) + (1 if k < n % len(lines) else 0) for k in range(len(lines))]
    cpu0 = {a.pid: proc_cpu(a.pid) for a in agents}
    web0 = proc_cpu(web.pid)
    load0, t0 = load_avg(), time.time()
    results: list[SippResult] = []

    def place(line: str, count: int) -> None:
        if count:
            results.append(run_sipp("call_pcap_bye.xml", kamailio_port, work / f"n{n}-{line}", service=line,
                                    calls=count, limit=count, rate=count, duration_ms=int(args.hold_s * 1000),
                                    timeout_s=int(args.hold_s + PCAP_SPEECH_S + 60),
                                    extra=("-trace_msg", "-rp", "1000")))

    threads = [threading.Thread(target=place, args=(line, c)) for line, c in zip(lines, shares, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def level_calls() -> list[Any]:
        return [c for c in ledger.list_calls(limit=5000) if c.sip_call_id not in seen]

    deadline = time.monotonic() + 60
    while True:
        calls = level_calls()
        done = [c for c in calls if c.status not in ("ringing", "answered")]
        if (len(calls) >= n and len(done) == len(calls)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ended_at = max((c.ended_at.timestamp() for c in calls if c.ended_at), default=time.time())
    cpu1 = {a.pid: proc_cpu(a.pid) for a in agents}
    web1 = proc_cpu(web.pid)
    seen.update(c.sip_call_id for c in calls)
    completed = [c for c in calls if c.answered_at is not None and c.status == "ended"]
    rtts: list[float] = []
    for r in results:
        for log in r.files("*_messages.log"):
            rtts += invite_to_ok_ms(log)[0]
    wall = max(ended_at - t0, 1e-6)
    return {
        "agents": len(agents), "n": n, "placed": n, "completed": len(completed), "lost": n - len(completed),
        "p50_ms": pct(rtts, 0.5), "p99_ms": pct(rtts, 0.99), "max_ms": max(rtts) if rtts else float("nan"),
        "answered_in_sipp": len(rtts), "calls_per_s": len(completed) / wall, "wall_s": wall,
        "agent_cpu_s": [round(cpu1[a.pid] - cpu0[a.pid], 2) for a in agents], "web_cpu_s": round(web1 - web0, 2),
        "sipp_rc": [r.returncode for r in results], "load_before": load0, "load_after": load_avg(),
        "by_line": {line: sum(1 for c in completed if c.called_number == line) for line in lines},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--levels", type=int, nargs="+", default=[20, 40, 60])
    parser.add_argument("--hold-s", type=float, default=10.0)
    parser.add_argument("--asr", action="store_true", help="live Vosk (Korean model) in each agent")
    parser.add_argument("--live-streams", type=int, default=2, help="with --asr: per agent")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()

    from callcenter.clock import SystemClock
    from callcenter.events import EventBus
    from callcenter.ledger import db
    from callcenter.ledger.service import LedgerService
    from tests.dbs import postgres_cluster
    from tests.sipbench.kamailio import Kamailio

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cc-scale-") as tmp, postgres_cluster() as url, \
            Kamailio(Path(tmp) / "kamailio") as proxy:
        from callcenter.audio.settings import PromptSettings

        prompts = PromptSettings(**build_prompts(Path(tmp) / "prompts"))
        print(f"# {len(__import__('os').sched_getaffinity(0))} CPUs, load {load_avg()}; hold {args.hold_s} s, "
              f"ASR {'live (Korean Vosk)' if args.asr else 'off'}", flush=True)
        print(f"{'agents':>6} {'N':>4} {'done':>5} {'lost':>4} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>7} "
              f"{'agent CPU s':>22} {'web CPU s':>9}  load before -> after", flush=True)
        for p in args.agents:
            reset_schema(url)
            work = Path(tmp) / f"p{p}"
            web, agents, lines, _ = start_site(p, args, url, proxy.port, prompts, work)
            engine = db.make_engine(url)
            ledger = LedgerService(engine, SystemClock(), EventBus())
            seen: set[str] = set()
            try:
                for n in args.levels:
                    row = run_level(n, args, web, agents, lines, proxy.port, ledger, work, seen)
                    rows.append(row)
                    print(f"{p:>6} {n:>4} {row['completed']:>5} {row['lost']:>4} {row['p50_ms']:>7.0f} "
                          f"{row['p99_ms']:>7.0f} {row['calls_per_s']:>7.2f} {str(row['agent_cpu_s']):>22} "
                          f"{row['web_cpu_s']:>9}  {row['load_before']} -> {row['load_after']}", flush=True)
                    time.sleep(2)
            finally:
                for proc in [*agents, web]:
                    proc.stop()
                engine.dispose()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
