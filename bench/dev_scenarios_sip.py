"""The 30 dev scenarios (shared/scenarios/dev.tsv) as real SIP calls through kamailio: per-field accuracy
of the drafted ledger entry, and a check that every call has an entry and an intact recording.

Run from the repository root:

    .venv/bin/python bench/dev_scenarios_sip.py [--parallel 5] [--dtmf] [--shared /work/shared]

Each row's caller_text is synthesized with espeak-ng (callcenter.audio.prompt_build.synthesize,
voice "cmn"), sent by SIPp as PCMA RTP (a pcap for play_pcap_audio) from its own caller number, and
the call goes through a private kamailio to the full pipeline (PyVoipAgent, recorder, SQLite ledger,
short prompts, drafting) running in its own process. --parallel calls are up at once.

THE MANDARIN SPEECH MODEL IS NOT AVAILABLE ON THIS MACHINE: the live recognizer is the test double
ScriptedRecognizerDouble (tests/doubles.py), which returns the row's caller_text verbatim once it has been
fed the call's audio. The accuracy printed therefore measures the SIP -> recording -> drafting -> ledger
path with transcript == reference text, not speech recognition.

--dtmf: the caller also keys the unit on the keypad (RFC 2833, e.g. 4*2*301#) before speaking, from
pcaps written here with a distinct RTP timestamp per key press (--stock-dtmf-pcaps: SIPp's own files,
whose fixed timestamp makes a repeated digit arrive once).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from pipeline_load import (  # noqa: E402
    AgentProcess,
    build_prompts,
    check_recording,
    load_avg,
    sip_settings_json,
    username_of,
)

FIELDS = ("unit", "category", "department", "urgent")
# Short prompts keep each call to a few seconds (as tests/calls/conftest.py does).
SHORT_PROMPTS = {"greeting": "您好，{estate}物业，本次通话将被录音。", "ask_unit": "请说房号。",
                 "ask_problem": "请说问题。", "readback": "编号", "anything_else": "还有其他需要吗？",
                 "thanks": "谢谢，再见。"}


def dtmf_of(unit: str) -> str:
    return unit.replace("-", "*") + "#"


_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def write_dtmf_pcap(path: Path, key: str, timestamp: int) -> Path:
    """One RFC 4733 telephone-event (PT 101) for SIPp's play_pcap_audio, with its own RTP timestamp.

    SIPp replays a pcap's RTP headers unchanged, so playing /usr/share/sip-tester/dtmf_2833_1.pcap twice
    sends two events with the same timestamp, which a receiver rightly takes for one key press (RFC 4733
    2.5.1.2): "11" would arrive as "1". A pcap per key press with a distinct timestamp avoids that."""
    import struct

    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    packets = [(160 * (i + 1), False) for i in range(6)] + [(160 * 7, True)] * 3
    for i, (duration, end) in enumerate(packets):
        rtp = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 101, (timestamp // 160 + i) & 0xFFFF,
                          timestamp & 0xFFFFFFFF, 0x5678)
        rtp += struct.pack("!BBH", _EVENT_CODES[key], (0x80 if end else 0) | 10, duration)
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        usec = i * 20_000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return path


def use_own_dtmf_pcaps(scenario: Path, keys: str) -> None:
    """Replace the stock dtmf_2833_*.pcap of each key press by a pcap with a timestamp of its own."""
    import re

    text = scenario.read_text()
    stock = list(re.finditer(r"/usr/share/sip-tester/dtmf_2833_[^\"]+\.pcap", text))
    assert len(stock) == len(keys), (len(stock), keys)
    for n, (m, key) in reversed(list(enumerate(zip(stock, keys, strict=True)))):
        own = write_dtmf_pcap(scenario.with_name(f"{scenario.stem}-dtmf{n}.pcap"), key, 800_000 + 8000 * n)
        text = text[: m.start()] + str(own) + text[m.end():]
    scenario.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared")))
    parser.add_argument("--parallel", type=int, default=5, help="calls up at once (default 5)")
    parser.add_argument("--dtmf", action="store_true", help="key the unit on the keypad before speaking")
    parser.add_argument("--stock-dtmf-pcaps", action="store_true",
                        help="with --dtmf: play SIPp's stock dtmf_2833_*.pcap (same RTP timestamp every time, so a "
                        "repeated digit such as the 11 of 11-2-504 is received once)")
    args = parser.parse_args()

    from callcenter.audio.prompt_build import synthesize
    from callcenter.clock import SystemClock
    from callcenter.drafting import DraftingRules, draft_entry
    from callcenter.events import EventBus
    from callcenter.ledger import db
    from callcenter.ledger.service import LedgerService
    from tests.calls.callers import caller_scenario
    from tests.sipbench.kamailio import Kamailio
    from tests.sipbench.sipp import run_sipp

    with (args.shared / "scenarios" / "dev.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    work = Path(tempfile.mkdtemp(prefix="dev_scenarios_sip_"))
    started = time.monotonic()
    print("NOTE: the Mandarin Vosk model is not available here. The recognizer is ScriptedRecognizerDouble, "
          "which returns each row's caller_text once fed the call's audio: these figures measure SIP -> "
          "recording -> drafting -> ledger with transcript == reference text, not speech recognition.")
    print(f"work dir {work}; {len(rows)} rows; {args.parallel} calls at once; dtmf={'on' if args.dtmf else 'off'}; "
          f"load {load_avg()}; {time.strftime('%H:%M:%S')}")
    numbers = {row["id"]: f"1390000{i:04d}" for i, row in enumerate(rows)}
    scenarios: dict[str, Path] = {}
    speech_s: dict[str, float] = {}

    def prepare(row: dict[str, str]) -> None:
        wav = synthesize(row["caller_text"], work / "speech" / f"{row['id']}.wav", voice="cmn")
        with wave.open(str(wav)) as w:
            pcm = w.readframes(w.getnframes())
        speech_s[row["id"]] = len(pcm) / 16000
        steps: list[tuple[str, object]] = []
        if args.dtmf:
            steps += [("pause", 3000), ("dtmf", dtmf_of(row["unit"]))]
        steps += [("speak", pcm), ("pause", len(pcm) // 16 + 1500)]
        scenarios[row["id"]] = caller_scenario(work / "scen" / f"{row['id']}.xml", steps, caller=numbers[row["id"]])
        if args.dtmf and not args.stock_dtmf_pcaps:
            use_own_dtmf_pcaps(scenarios[row["id"]], dtmf_of(row["unit"]))

    (work / "speech").mkdir()
    (work / "scen").mkdir()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(prepare, rows))
    prompt_settings = build_prompts(work / "prompts", SHORT_PROMPTS)
    print(f"speech synthesized ({sum(speech_s.values()):.0f} s in all, {min(speech_s.values()):.1f}-"
          f"{max(speech_s.values()):.1f} s per call) and prompts built in {time.monotonic() - started:.1f} s")

    db_url = f"sqlite:///{work}/ledger.db"
    results: dict[str, Any] = {}
    with Kamailio(work / "kamailio") as proxy:
        cfg = {"log": str(work / "agent.log"), "db_url": db_url, "recordings": str(work / "recordings"),
               "model_dir": str(work / "no-model"), "prompt_settings": prompt_settings,
               "sip_json": sip_settings_json(proxy.port, args.parallel + 10),
               "scripted_texts": {numbers[r["id"]]: r["caller_text"] for r in rows},
               # every call must get a live (scripted) stream: the double is not available to worker processes
               "max_live_streams": args.parallel + 10}
        agent = AgentProcess(cfg)
        ledger = LedgerService(db.make_engine(db_url), SystemClock(), EventBus())
        lock = threading.Lock()

        def call(row: dict[str, str]) -> None:
            res = run_sipp(str(scenarios[row["id"]]), proxy.port, work / "sipp" / row["id"],
                           service=username_of(cfg), timeout_s=int(speech_s[row["id"]] + 60))
            with lock:
                results[row["id"]] = res

        t_calls = time.monotonic()
        try:
            with ThreadPoolExecutor(args.parallel) as ex:
                list(ex.map(call, rows))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                calls = ledger.list_calls(limit=500)
                if len(calls) >= len(rows) and all(
                        c.status not in ("ringing", "answered") and c.entry_id is not None
                        and ledger.get_entry(c.entry_id).draft_ready_at is not None for c in calls):
                    break
                time.sleep(0.3)
            calls_s = time.monotonic() - t_calls
        finally:
            agent.stop()

    by_number = {c.caller_number: c for c in ledger.list_calls(limit=500)}
    rules = DraftingRules.load()
    correct = dict.fromkeys(FIELDS, 0)
    text_only_correct = dict.fromkeys(FIELDS, 0)
    mismatches, problems, differs_from_text = [], [], []
    latencies = []
    sources: dict[str, int] = {}
    with_entry = rec_ok = sipp_ok = transcript_ok = 0
    for row in rows:
        rid = row["id"]
        expected = {"unit": row["unit"], "category": row["category"], "department": row["department"],
                    "urgent": row["urgent"] == "1"}
        d = draft_entry(row["caller_text"], rules)
        text_only = {"unit": d.unit.value or "", "category": d.category.value,
                     "department": d.department.value, "urgent": bool(d.urgent.value)}
        for f in FIELDS:
            text_only_correct[f] += text_only[f] == expected[f]
        sipp_ok += results.get(rid) is not None and results[rid].returncode == 0
        if results.get(rid) is not None and results[rid].returncode != 0:
            problems.append(f"{rid}: SIPp exit {results[rid].returncode}: "
                            + results[rid].explain().strip().splitlines()[-1][:200])
        c = by_number.get(numbers[rid])
        if c is None:
            problems.append(f"{rid}: no call in the ledger")
            for f in FIELDS:
                mismatches.append(f"{rid} {f}: expected {expected[f]!r}, got (no call)")
            continue
        why = check_recording(work / "recordings" / c.recording_key, c) if c.recording_key else "no recording"
        if why:
            problems.append(f"{rid}: recording: {why}")
        else:
            rec_ok += 1
        transcript_ok += c.transcript_text == row["caller_text"]
        if c.transcript_text != row["caller_text"]:
            problems.append(f"{rid}: transcript {c.transcript_status} {c.transcript_text[:30]!r} != caller_text")
        entry = ledger.get_entry(c.entry_id) if c.entry_id is not None else None
        if entry is None or entry.draft_ready_at is None:
            problems.append(f"{rid}: no drafted entry (call status {c.status})")
            continue
        with_entry += 1
        latencies.append((entry.draft_ready_at - c.ended_at).total_seconds())
        src = (entry.draft or {}).get("source_unit", "?")
        sources[str(src)] = sources.get(str(src), 0) + 1
        if entry.status == "merged" or c.entry_id != entry.id:
            problems.append(f"{rid}: merged as a repeat into entry {c.entry_id}")
        got = {"unit": entry.unit, "category": entry.category, "department": entry.department,
               "urgent": bool(entry.urgent)}
        for f in FIELDS:
            if got[f] == expected[f]:
                correct[f] += 1
            else:
                mismatches.append(f"{rid} {f}: expected {expected[f]!r}, got {got[f]!r}   | {row['caller_text']}")
            if got[f] != text_only[f]:
                differs_from_text.append(f"{rid} {f}: SIP path {got[f]!r} vs text-only {text_only[f]!r}")

    n = len(rows)
    print(f"calls done in {calls_s:.1f} s; load {load_avg()}")
    print(f"calls: {n} placed, {sipp_ok} completed in SIPp, {len(by_number)} in the ledger, {with_entry} with a "
          f"drafted entry, {rec_ok} with an intact recording, {transcript_ok} with transcript == caller_text")
    print("per-field exact accuracy (SIP path)      : " + "  ".join(
        f"{f} {correct[f]}/{n} = {correct[f] / n:.1%}" for f in FIELDS))
    print("per-field exact accuracy (text-only draft): " + "  ".join(
        f"{f} {text_only_correct[f]}/{n} = {text_only_correct[f] / n:.1%}" for f in FIELDS))
    all4 = sum(1 for row in rows if not any(m.startswith(row["id"] + " ") for m in mismatches))
    print(f"all four fields right: {all4}/{n}; unit source: {sources}")
    if latencies:
        latencies.sort()
        print(f"hang-up -> draft_ready: median {latencies[len(latencies) // 2]:.3f} s, max {latencies[-1]:.3f} s")
    print(f"mismatches ({len(mismatches)}):")
    for m in mismatches:
        print("  " + m)
    print(f"SIP path differs from the text-only draft ({len(differs_from_text)}):")
    for m in differs_from_text:
        print("  " + m)
    print(f"problems ({len(problems)}):")
    for p in problems:
        print("  " + p)
    print(f"total {time.monotonic() - started:.0f} s; agent log {work}/agent.log")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
