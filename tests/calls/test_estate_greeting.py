"""Two estates, two hotline numbers: each caller hears the greeting of the estate dialled, and the
call and its entry land in that estate. In process at full speed (the call double), and once over
the wire: kamailio, two agent lines (the estates' numbers), baresip callers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callcenter.asr.pool import TranscriptionPool
from callcenter.asr.settings import AsrSettings
from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import PromptSettings, VadSettings
from callcenter.calls.drafter import CallDrafter
from callcenter.calls.flow import FlowSettings
from callcenter.calls.hotline import HotlineHandler
from callcenter.clock import SystemClock
from callcenter.drafting.rules import DraftingRules
from callcenter.estates.directory import Estates, sync_estates
from callcenter.estates.prompts import build_estate_prompts, estate_prompts
from callcenter.estates.settings import EstateSettings
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.telephony.interface import CallInfo
from tests.calls.signals import best_match
from tests.doubles import CallDouble, CallDoubleClock, KeyedPromptsDouble, TranscriberDouble
from tests.sipbench import audio
from tests.sipbench.baresip import run_baresip_call

NAMES = {"xfjy": "幸福家园", "hyhf": "和园华府"}


def _estates(db_url: str, numbers: dict[str, str]) -> tuple[LedgerService, Estates]:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    estates = sync_estates(engine, SystemClock(), [EstateSettings(code=c, name=NAMES[c], numbers=[n])
                                                   for c, n in numbers.items()])
    return LedgerService(engine, SystemClock(), EventBus(), estates=estates), estates


@pytest.fixture(scope="session")
def estate_prompt_settings(prompt_settings: PromptSettings) -> PromptSettings:
    """The session's short prompts, plus each estate's greeting built into prompts/estates/<code>/
    by the same builder as `callcenter prompts build`."""
    reports = build_estate_prompts(prompt_settings, [EstateSettings(code=c, name=n) for c, n in NAMES.items()])
    for r in reports:
        assert (r.out_dir / "greeting.wav").is_file(), r
    return prompt_settings


def _greeting(settings: PromptSettings, estates: Estates, code: str) -> bytes:
    estate = estates.by_code(code)
    assert estate is not None
    return estate_prompts(PromptLibrary(settings), estates, configured=True)[estate.id].get("greeting")


@pytest.mark.both_dbs
def test_each_caller_hears_the_estate_dialled_in_process(estate_prompt_settings: PromptSettings,
                                                         db_url: str, tmp_path: Path) -> None:
    ledger, estates = _estates(db_url, {"xfjy": "8001", "hyhf": "8002"})
    site = PromptLibrary(estate_prompt_settings)
    per_estate = estate_prompts(site, estates, configured=True)
    keyed = {eid: KeyedPromptsDouble(p) for eid, p in per_estate.items()}
    clock = CallDoubleClock()
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "recordings"), monotonic=clock)
    handler = HotlineHandler(ledger=ledger, recordings=store, transcriber=TranscriberDouble(None, 0),
                             prompts=KeyedPromptsDouble(site), drafter=CallDrafter(ledger, DraftingRules.load()),
                             vad=VadSettings(no_input_timeout_s=2.0, end_silence_ms=600), flow=FlowSettings(),
                             clock=SystemClock(), estate_prompts=keyed)
    try:
        for code, number in (("hyhf", "8002"), ("xfjy", "8001")):
            info = CallInfo(call_id=f"{code}@double", caller_number="13800138000", caller_display="",
                            called_number=number, remote_addr="127.0.0.1:5060", received_at=datetime.now(UTC),
                            codec="PCMU")
            estate = estates.by_code(code)
            assert estate is not None
            handler.on_ringing(info)
            call = CallDouble(info, keyed[estate.id], {}, clock)
            handler.on_call(call)
            mine, other = _greeting(estate_prompt_settings, estates, code), _greeting(
                estate_prompt_settings, estates, "xfjy" if code == "hyhf" else "hyhf")
            assert mine != other
            assert bytes(call.agent_audio[:len(mine)]) == mine, f"{code}: not its greeting first"
            logged = ledger.call_by_key(info.call_id)
            assert logged.estate_id == estate.id and ledger.get_entry(logged.entry_id).estate_id == estate.id
    finally:
        store.shutdown()


@pytest.mark.sip
@pytest.mark.both_dbs
def test_two_hotline_numbers_through_kamailio(agent_factory, kamailio, estate_prompt_settings: PromptSettings,
                                              speak, db_url: str, tmp_path: Path) -> None:
    """One agent process with two lines registered at kamailio (each estate's number); a baresip
    caller dials each. Each hears its estate's greeting; each call and entry is in its estate."""
    lines = {"xfjy": f"xfjy-{tmp_path.name[-6:]}", "hyhf": f"hyhf-{tmp_path.name[-6:]}"}
    ledger, estates = _estates(db_url, lines)
    store = WavRecordingStore(RecordingSettings(root=tmp_path / "recordings"))
    pool = TranscriptionPool(AsrSettings(model_dir=tmp_path / "no-model", max_live_streams=2, workers=1))
    pool.start()
    site = PromptLibrary(estate_prompt_settings)
    handler = HotlineHandler(ledger=ledger, recordings=store, transcriber=pool, prompts=site,
                             drafter=CallDrafter(ledger, DraftingRules.load()),
                             vad=VadSettings(no_input_timeout_s=2.0, end_silence_ms=600), flow=FlowSettings(),
                             clock=SystemClock(), estate_prompts=estate_prompts(site, estates, configured=True))
    try:
        for line in lines.values():
            agent_factory(handler, username=line)
        said = audio.write_pcm16_wav(tmp_path / "said.wav", b"\0\0" * 4000 + speak("你好"))
        results: dict[str, Any] = {}
        for code, line in lines.items():
            results[code] = run_baresip_call(tmp_path / f"baresip-{code}", f"sip:{line}@127.0.0.1:{kamailio.port}",
                                             said, seconds=6, codec="PCMU")
        greetings = {c: audio.pcm(_greeting(estate_prompt_settings, estates, c)).astype(float) for c in NAMES}

        def own_pieces(code: str) -> list[Any]:
            # half-second pieces of the first three seconds that the other estate's greeting lacks:
            # the estate's name (both greetings share 「您好」 and 「物业客服中心」)
            mine, other = greetings[code], next(g for c, g in greetings.items() if c != code)
            pieces = [mine[i:i + 4000] for i in range(0, min(len(mine), 24000) - 4000 + 1, 4000)]
            return [piece for piece in pieces if best_match(other, piece)[0] < 0.6]

        distinct = {c: own_pieces(c) for c in NAMES}
        assert all(distinct.values()), {c: len(v) for c, v in distinct.items()}
        for code, result in results.items():
            assert result.heard_wav is not None, result.output[-3000:]
            heard = audio.read_wav(result.heard_wav).astype(float)
            scores = {c: float(np.mean([best_match(heard, piece)[0] for piece in pieces]))
                      for c, pieces in distinct.items()}
            print(code, {k: round(v, 3) for k, v in scores.items()})
            # whole first two seconds: own 0.92-0.96 quiet but 0.61 vs 0.53 once under CI load, the
            # shared words dominating; the name's pieces alone tell the estates apart
            assert scores[code] > 0.5 and scores[code] > max(v for k, v in scores.items() if k != code) + 0.15, \
                f"{code} caller, correlations with each estate's name: {scores}"
        calls = ledger.list_calls(limit=10)
        assert len(calls) == 2
        for call in calls:
            code = "xfjy" if call.called_number == lines["xfjy"] else "hyhf"
            estate = estates.by_code(code)
            assert estate is not None and call.called_number == lines[code]
            assert call.estate_id == estate.id and call.entry_id is not None
            assert ledger.get_entry(call.entry_id).estate_id == estate.id
    finally:
        pool.shutdown(wait=False)
        store.shutdown()
