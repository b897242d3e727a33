"""Soak harness: the product as shipped (`callcenter serve` in its own process) behind kamailio, SIPp
keeping a fixed number of calls up continuously for a set time, the process's memory sampled
throughout, and afterwards every call checked in the ledger and every recording checked on disk.

Used by tests/load/test_soak.py (a few minutes in CI) and bench/soak.py (the 30-minute run whose
figures are in BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import signal
import socket
import statistics
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from callcenter.clock import SystemClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.seed_models import seed_models_into
from tests.sipbench.sipp import start_sipp
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port

PCAP = "/usr/share/sip-tester/g711a.pcap"  # 7.08 s of PCMA speech shipped with sip-tester
PCAP_S = 7.08

# The caller talks (the 7.08 s recording, again and again, so RTP flows all call long as from a real
# phone) until the agent ends the call (its flow says goodbye and hangs up) or, after `hold_s`, hangs
# up itself; either way is a normal end.
_SCENARIO = """<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="soak">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Resident" <sip:139[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:139[call_number]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Resident" <sip:139[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
{talk}  <label id="3"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <nop next="2"/>
  <label id="1"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: "Resident" <sip:139[call_number]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200" crlf="true"/>
  <label id="2"/>
  <nop/>
  <ResponseTimeRepartition value="20, 50, 100, 200, 500, 1000, 2000, 3000, 4000"/>
</scenario>
"""


def scenario_xml(hold_s: float) -> str:
    plays = max(1, round(hold_s / PCAP_S))
    talk = "".join(
        f'  <label id="{10 + n}"/>\n'
        f'  <nop><action><exec play_pcap_audio="{PCAP}"/></action></nop>\n'
        f'  <recv request="BYE" timeout="{int(PCAP_S * 1000) + 20}" ontimeout="{10 + n + 1 if n + 1 < plays else 1}" next="3"/>\n'
        for n in range(plays))
    return _SCENARIO.replace("{talk}", talk)


@dataclass
class SoakReport:
    duration_s: float
    concurrent: int
    sipp_successful: int = 0
    sipp_failed: int = 0
    calls_in_ledger: int = 0
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)
    answer_ms: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, ms)
    problems: list[str] = field(default_factory=list)
    recordings_checked: int = 0
    recording_seconds: float = 0.0
    late_audio_s: list[float] = field(default_factory=list)  # recordings longer than their calls by late speech

    def rss_growth_mb(self, warmup_fraction: float = 0.25) -> float:
        """Median RSS of the last quarter minus the median just after warm-up."""
        samples = [mb for _t, mb in self.rss_mb]
        if len(samples) < 8:
            return 0.0
        start = int(len(samples) * warmup_fraction)
        quarter = max(len(samples) // 4, 1)
        return statistics.median(samples[-quarter:]) - statistics.median(samples[start:start + quarter])

    def summary(self) -> str:
        answers = sorted(ms for _t, ms in self.answer_ms)
        pct = (lambda q: answers[min(len(answers) - 1, int(q * len(answers)))]) if answers else (lambda q: 0.0)
        rss = [mb for _t, mb in self.rss_mb] or [0.0]
        return (f"{self.duration_s:.0f} s at {self.concurrent} concurrent: SIPp ok {self.sipp_successful} "
                f"failed {self.sipp_failed}; ledger calls {self.calls_in_ledger}; recordings checked "
                f"{self.recordings_checked} ({self.recording_seconds / 3600:.2f} h audio); answer p50 "
                f"{pct(0.5):.0f} ms p99 {pct(0.99):.0f} ms max {answers[-1] if answers else 0:.0f} ms; RSS "
                f"min {min(rss):.0f} max {max(rss):.0f} MiB, growth after warm-up {self.rss_growth_mb():+.1f} MiB; "
                f"recordings longer than their calls by late caller speech (kept) {len(self.late_audio_s)}"
                f"{f' (up to {max(self.late_audio_s):.1f} s)' if self.late_audio_s else ''}; "
                f"problems {len(self.problems)}")


def _tree_rss_mb(pid: int) -> float:
    """VmRSS of the process and all its descendants (transcription workers), MiB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return total / 1024


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def write_config(work: Path, kamailio_port: int, db_url: str, prompts: dict[str, object],
                 concurrent: int, username: str = "soakline") -> tuple[Path, int]:
    rtp = free_udp_block(2 * concurrent + 60)
    web_port = _free_tcp_port()
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({
        "sip": {"server": LOOPBACK, "port": kamailio_port, "username": username, "bind_ip": LOOPBACK,
                "bind_port": free_udp_port(), "rtp_port_low": rtp, "rtp_port_high": rtp + 2 * concurrent + 59,
                "max_calls": concurrent + 10},
        "database": {"url": db_url},
        "web": {"port": web_port, "secret_file": str(work / "data" / "secret.key")},
        "recording": {"root": str(work / "recordings")},
        "asr": {"model_dir": str(work / "no-model")},  # recording, ledger and drafting path; ASR load is bench/asr_rtf
        "prompts": prompts,
        "logging": {"level": "WARNING"},
    }, allow_unicode=True))
    return config, web_port


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"callcenter serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"callcenter serve did not come up:\n{log.read_text()[-3000:]}")


def _answer_times(workdir: Path) -> list[tuple[float, float]]:
    """SIPp's -trace_rtt file: one row per call, (ms since SIPp started, INVITE sent -> 200 OK ms)."""
    out: list[tuple[float, float]] = []
    for path in workdir.glob("*_rtt.csv"):
        with path.open() as f:
            for row in csv.reader(f, delimiter=";"):
                with contextlib.suppress(ValueError, IndexError):
                    out.append((float(row[0]) / 1000, float(row[1])))
    return sorted(out)


def _sipp_counts(workdir: Path) -> tuple[int, int]:
    stats = sorted(workdir.glob("*_.csv"))
    if not stats:
        raise RuntimeError(f"SIPp wrote no statistics in {workdir}")
    rows = list(csv.DictReader(stats[-1].open(), delimiter=";"))
    last = rows[-1]
    return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])


def run_soak(work: Path, kamailio_port: int, db_url: str, prompts: dict[str, object], *,
             duration_s: float, concurrent: int = 30, hold_s: float = 20.0,
             sample_every_s: float = 5.0, progress: bool = False) -> SoakReport:
    """Keep `concurrent` calls up for `duration_s`, then check every call and recording."""
    work.mkdir(parents=True, exist_ok=True)
    config, web_port = write_config(work, kamailio_port, db_url, prompts, concurrent)
    scenario = work / "soak.xml"
    scenario.write_text(scenario_xml(hold_s))
    log = work / "serve.log"
    seed_models_into(work)
    serve = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "serve", "-c", str(config)],
                             stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=work)
    report = SoakReport(duration_s=duration_s, concurrent=concurrent)
    sipp = None
    try:
        _wait_port(web_port, serve, log)
        time.sleep(2.0)  # registration at kamailio follows the panel coming up
        # A call rate above what the limit allows: SIPp replaces every call that ends at once.
        rate = concurrent / 5.0
        sipp = start_sipp(str(scenario), kamailio_port, work / "sipp", service="soakline",
                          calls=10_000_000, limit=concurrent, rate=rate, timeout_s=int(duration_s + hold_s + 120),
                          extra=("-trace_stat", "-fd", "5", "-trace_rtt", "-rtt_freq", "1", "-trace_err"))
        started = time.monotonic()
        next_sample = started
        while time.monotonic() - started < duration_s:
            if sipp.poll() is not None:
                raise RuntimeError(f"SIPp ended early ({sipp.returncode}): {sipp.stderr.read() if sipp.stderr else ''}")
            if serve.poll() is not None:
                raise RuntimeError(f"callcenter serve died ({serve.returncode}):\n{log.read_text()[-3000:]}")
            if time.monotonic() >= next_sample:
                report.rss_mb.append((time.monotonic() - started, _tree_rss_mb(serve.pid)))
                if progress:
                    print(f"  t={report.rss_mb[-1][0]:6.0f} s  RSS {report.rss_mb[-1][1]:7.1f} MiB", flush=True)
                next_sample += sample_every_s
            time.sleep(0.5)
        sipp.send_signal(signal.SIGUSR1)  # stop placing calls; let the ones up finish
        try:
            sipp.wait(timeout=hold_s + 90)
        except subprocess.TimeoutExpired:
            report.problems.append("SIPp did not finish its last calls in time")
            sipp.kill()
            sipp.wait()
        report.rss_mb.append((time.monotonic() - started, _tree_rss_mb(serve.pid)))
        report.sipp_successful, report.sipp_failed = _sipp_counts(work / "sipp")
        report.answer_ms = _answer_times(work / "sipp")
        _wait_calls_settled(db_url, timeout_s=60)
    finally:
        if sipp is not None and sipp.poll() is None:
            sipp.kill()
            sipp.wait()
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    check_ledger(report, db_url, work / "recordings", log)
    return report


def _ledger(db_url: str) -> tuple[LedgerService, object]:
    engine = db.make_engine(db_url)
    return LedgerService(engine, SystemClock(), EventBus()), engine


def _wait_calls_settled(db_url: str, timeout_s: float) -> None:
    ledger, engine = _ledger(db_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            calls = ledger.list_calls(limit=1_000_000)
            if all(c.ended_at is not None and c.recording_sha256 for c in calls if c.status != "missed"):
                return
            time.sleep(0.5)
    finally:
        engine.dispose()  # type: ignore[attr-defined]


def _speech_share(samples: np.ndarray) -> float:
    """The share of 20 ms windows above -56 dBFS (the soak caller's recording has speech in ~90 %)."""
    windows = samples[: len(samples) // 160 * 160].astype(float).reshape(-1, 160)
    return float((np.sqrt((windows**2).mean(axis=1)) > 50).mean()) if len(windows) else 0.0


def check_ledger(report: SoakReport, db_url: str, recordings: Path, log: Path | None = None) -> None:
    """Every call SIPp completed is in the ledger with an entry and an intact, playable recording
    (a problem quotes what the agent's `log` said of that call)."""
    log_lines = log.read_text(errors="replace").splitlines() if log is not None and log.exists() else []
    ledger, engine = _ledger(db_url)
    try:
        calls = ledger.list_calls(limit=1_000_000)
    finally:
        engine.dispose()  # type: ignore[attr-defined]
    report.calls_in_ledger = len(calls)
    if len(calls) != report.sipp_successful + report.sipp_failed:
        report.problems.append(f"{len(calls)} calls in the ledger, SIPp placed "
                               f"{report.sipp_successful + report.sipp_failed}")
    keys: set[str] = set()
    for call in calls:
        where = f"call {call.id} ({call.sip_call_id})"
        if call.status not in ("ended",):
            report.problems.append(f"{where}: status {call.status}")
        if call.entry_id is None:
            report.problems.append(f"{where}: no ledger entry")
        if not call.recording_key or call.recording_key in keys:
            report.problems.append(f"{where}: recording key {call.recording_key!r} missing or shared")
            continue
        keys.add(call.recording_key)
        path = recordings / call.recording_key
        try:
            data = path.read_bytes()  # read once: hashed, then parsed
            digest = hashlib.sha256(data).hexdigest()
            with wave.open(io.BytesIO(data)) as w:
                frames, rate, channels = w.getnframes(), w.getframerate(), w.getnchannels()
                pcm = np.frombuffer(w.readframes(frames), dtype="<i2")
        except (OSError, wave.Error, EOFError) as exc:
            report.problems.append(f"{where}: recording unreadable: {exc}")
            continue
        if digest != call.recording_sha256:
            report.problems.append(f"{where}: recording sha256 differs from the ledger")
        seconds = frames / rate
        length = (call.ended_at - call.answered_at).total_seconds() if call.answered_at and call.ended_at else 0
        if channels == 2 and seconds > length + 1.5 and _speech_share(pcm[0::2][int(length * rate):]) > 0.5:
            # Longer, but with the caller's speech, not silence: audio that began late (a starved sender
            # or receive thread) and caught up, all kept; the recorder logs how far it ran ahead.
            report.late_audio_s.append(seconds - length)
        elif channels != 2 or abs(seconds - length) > 1.5:
            said = [line.strip()[:240] for line in log_lines if call.sip_call_id in line]
            report.problems.append(f"{where}: recording {seconds:.1f} s / {channels} ch, call {length:.1f} s; "
                                   f"the agent's log of it: {said[-3:]}")
        report.recordings_checked += 1
        report.recording_seconds += seconds
