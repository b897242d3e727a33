"""Automatic pre-scores on recorded calls: the agent's real prompt clips on the right channel,
real Mandarin speech (asr_eval) on the left. The caller's and the clerk's words come from the
asr_eval REFERENCE TEXTS through the Mandarin double, because the Mandarin model is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callcenter.qa.evidence import match_prompt
from callcenter.qa.service import QaService
from callcenter.qa.settings import QaSettings
from tests.qa.conftest import CallMaker, Speech, clip, reference_words, silence, track

CALLER = "fireredasr_BAC009S0764W0121"  # 甚至出现交易几乎停滞的情况 (4.2 s)
OTHER = "fireredasr_TEST_NET_Y0000000000_S00000"  # 我有的时候说不清楚你们知道吗


def verdicts(review) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {i["id"]: i["verdict"] for i in review.auto["items"]}


def item(review, item_id: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return next(i for i in review.auto["items"] if i["id"] == item_id)


def agent_script(prompts, keys_at: list[tuple[float, str]]):  # type: ignore[no-untyped-def]
    t = track()
    for at, key in keys_at:
        t.at(at, clip(prompts, key))
    return t


def test_prompt_found_by_cross_correlation_in_noise(prompts) -> None:  # type: ignore[no-untyped-def]
    """The greeting clip inside 20 s of noisy audio is found at the right place, others are not."""
    rng = np.random.default_rng(1)
    greeting = clip(prompts, "greeting")
    signal = (rng.normal(0, 300, 20 * 8000)).astype(np.int16)
    signal[3 * 8000:3 * 8000 + len(greeting)] += greeting
    hits = match_prompt(signal, greeting, 0.7)
    assert len(hits) == 1 and abs(hits[0][0] - 3 * 8000) <= 1 and hits[0][1] > 0.9
    assert match_prompt(signal, clip(prompts, "thanks"), 0.7) == []


def test_automated_call_with_greeting_passes(maker: CallMaker, qa: QaService, prompts,  # type: ignore[no-untyped-def]
                                             asr_eval: dict[str, Speech]) -> None:
    speech = asr_eval[CALLER]
    g = len(clip(prompts, "greeting")) / 8000
    agent = agent_script(prompts, [(0.2, "greeting"), (g + 6, "ask_surname"), (g + 12, "anything_else"),
                                   (g + 18, "thanks")])
    caller = track().at(g + 1, speech.pcm)
    call_id = maker.make(caller, agent, caller_text=speech.reference)
    review = qa.auto_review(call_id, "qa1")
    v = verdicts(review)
    assert v == {"answer_rings": "pass", "greeting": "pass", "ask_surname": "pass", "no_slang": "pass",
                 "callback_offer": "na", "anything_else": "pass", "thanks": "pass", "registered": "pass",
                 "attitude": "unknown"}, v
    assert review.score == 100.0 and review.passed is True
    ev = item(review, "greeting")["evidence"][0]
    assert ev["kind"] == "prompt" and ev["detail"]["key"] == "greeting" and abs(ev["start_s"] - 0.2) < 0.01
    assert ev["detail"]["score"] > 0.95 and "幸福家园" in ev["text"]
    assert item(review, "thanks")["evidence"][0]["start_s"] > 18
    rings = item(review, "answer_rings")["evidence"][0]
    assert rings["detail"]["waited_s"] == 4.0
    # the caller's words (reference text, through the double) are in the evidence the page shows
    assert qa.evidence(call_id).caller_words[0].text == speech.reference[0]


def test_automated_call_without_greeting_fails_critically(maker: CallMaker, qa: QaService, prompts,  # type: ignore[no-untyped-def]
                                                          asr_eval: dict[str, Speech]) -> None:
    """Same call but the greeting is not played (the caller hears only 「请说一下您遇到的问题」)."""
    speech = asr_eval[CALLER]
    agent = agent_script(prompts, [(0.2, "ask_problem"), (12, "anything_else")])
    call_id = maker.make(track().at(5, speech.pcm), agent, caller_text=speech.reference)
    review = qa.auto_review(call_id, "qa1")
    v = verdicts(review)
    assert v["greeting"] == "fail" and v["thanks"] == "fail" and v["ask_surname"] == "fail"
    assert v["anything_else"] == "pass"
    assert review.passed is False and review.auto["critical_failed"] == ["greeting"]


def test_slow_answer_and_late_registration(maker: CallMaker, qa: QaService, prompts) -> None:  # type: ignore[no-untyped-def]
    agent = agent_script(prompts, [(0.2, "greeting"), (10, "thanks")])
    call_id = maker.make(track().at(1, silence(1)), agent, ring_s=20, confirm_after_s=90)
    v = verdicts(qa.auto_review(call_id, "qa1"))
    assert v["answer_rings"] == "fail" and v["registered"] == "fail"
    unconfirmed = maker.make(track(), agent_script(prompts, [(0.2, "greeting")]), confirm_after_s=None)
    review = qa.auto_review(unconfirmed, "qa1")
    assert verdicts(review)["registered"] == "fail" and "未确认" in item(review, "registered")["detail"]


def test_hold_over_30s_needs_a_callback_offer(maker: CallMaker, qa: QaService, prompts) -> None:  # type: ignore[no-untyped-def]
    """The agent goes silent for 40 s (a lookup) and comes back: without 稍后回电 it fails."""
    g = len(clip(prompts, "greeting")) / 8000
    silent = agent_script(prompts, [(0.2, "greeting"), (g + 41, "thanks")])
    review = qa.auto_review(maker.make(track(), silent), "qa1")
    assert verdicts(review)["callback_offer"] == "fail"
    gap = item(review, "callback_offer")["evidence"][0]
    assert gap["kind"] == "gap" and 39 < gap["end_s"] - gap["start_s"] < 42
    offered = agent_script(prompts, [(0.2, "greeting"), (g + 20, "will_call_back"),
                                     (g + 20 + len(clip(prompts, "will_call_back")) / 8000 + 35, "thanks")])
    review = qa.auto_review(maker.make(track(), offered), "qa1")
    assert verdicts(review)["callback_offer"] == "pass"
    assert any(e.get("detail", {}).get("key") == "will_call_back" for e in item(review, "callback_offer")["evidence"])


def test_human_clerk_callback_judged_from_the_right_channel_transcript(  # type: ignore[no-untyped-def]
        maker: CallMaker, ledger, store, clock, prompts, asr_eval: dict[str, Speech], tmp_path: Path) -> None:
    """A callback placed by a clerk: no prompt clips, so the agent side is judged from a transcript
    of the RIGHT channel. Real speech (asr_eval) stands in for the clerk; the words are the clerk's
    script through the Mandarin double, fed the right channel."""
    clerk_speech = asr_eval[OTHER].pcm
    scripts = {
        "polite": "您好幸福家园物业客服中心请问您贵姓还有其他需要吗感谢您的来电",
        "rude": "喂什么事这个我不知道不归我们管",
    }
    results = {}
    for name, script in scripts.items():
        call_id = maker.make(track().at(3, asr_eval[CALLER].pcm), track().at(0.5, clerk_speech),
                             caller_text=asr_eval[CALLER].reference)
        qa = QaService(ledger.engine, clock, store, qa_card(), QaSettings(), prompts=prompts, org_names=("幸福家园",),
                       transcribe_agent=lambda path, s=script: reference_words(path, 1, s))
        results[name] = qa.auto_review(call_id, "qa1")
    polite, rude = verdicts(results["polite"]), verdicts(results["rude"])
    assert polite["greeting"] == polite["ask_surname"] == polite["thanks"] == polite["no_slang"] == "pass"
    assert rude["greeting"] == "fail" and rude["no_slang"] == "fail" and results["rude"].passed is False
    slang = item(results["rude"], "no_slang")["evidence"]
    assert {e["text"] for e in slang} == {"不知道", "不归我们管"}
    assert all(e["kind"] == "agent_words" and e["start_s"] >= 0.5 for e in slang)  # timed on the right channel


def test_the_clerks_stored_transcript_is_judged_without_a_transcriber(  # type: ignore[no-untyped-def]
        maker: CallMaker, ledger, store, clock, prompts) -> None:
    """A call bridged to a clerk (转人工 / 接听): the clerk's words were transcribed after the call
    (call.clerk_transcript_words); a QA service with no transcriber of its own scores them."""
    from callcenter.asr.interface import Transcript, Word

    g = len(clip(prompts, "greeting")) / 8000
    call_id = maker.make(track(), agent_script(prompts, [(0.2, "greeting")]).at(g + 1, silence(6)))
    said = [("喂", g + 1.0), ("这个", g + 1.5), ("不归我们管", g + 2.0), ("你自己看着办", g + 4.0)]
    words = tuple(Word(w, start, start + 0.8, 1.0) for w, start in said)
    ledger.set_clerk_transcript(f"qa-{maker.counter}", Transcript("".join(w for w, _ in said), words, "test"), "done")
    qa = QaService(ledger.engine, clock, store, qa_card(), QaSettings(), prompts=prompts)
    review = qa.auto_review(call_id, "qa1")
    assert verdicts(review)["greeting"] == "pass"  # the agent's prompt clip still counts
    assert verdicts(review)["no_slang"] == "fail"
    assert {e["text"] for e in item(review, "no_slang")["evidence"]} == {"不归我们管", "你自己看着办"}


def test_agent_side_unheard_is_left_to_the_reviewer(maker: CallMaker, ledger, store, clock) -> None:  # type: ignore[no-untyped-def]
    """Without prompt clips and without an agent transcript nothing is guessed: 'unknown'."""
    qa = QaService(ledger.engine, clock, store, qa_card(), QaSettings())
    v = verdicts(qa.auto_review(maker.make(track(), track().at(0.5, silence(2))), "qa1"))
    assert v["greeting"] == v["no_slang"] == v["thanks"] == "unknown"


def qa_card():  # type: ignore[no-untyped-def]
    from callcenter.qa.scorecard import load_scorecard

    return load_scorecard()
