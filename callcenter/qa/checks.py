"""The automatic checks of the scorecard: pure functions of a `CallEvidence` and the item's
parameters, each returning a verdict with the evidence it rests on (seed 000's call procedure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from callcenter.qa.evidence import CallEvidence, Span, find_phrase

Verdict = Literal["pass", "fail", "na", "unknown"]  # na: does not apply; unknown: a person must judge
# The verdicts in display order with their labels (the panel, API messages).
VERDICT_LABELS: dict[str, str] = {"pass": "合格", "fail": "不合格", "na": "不适用", "unknown": "待人工"}


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    detail: str  # Chinese, shown to the reviewer
    evidence: list[Span] = field(default_factory=list)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RingParams(_Params):
    max_rings: int = Field(3, ge=1)
    ring_period_s: float = Field(5.0, gt=0, description="One ring cycle (China: 1 s on, 4 s off)")


class PhraseParams(_Params):
    phrases: list[str] = Field(min_length=1)
    within_s: float | None = Field(None, gt=0, description="Must be said this soon after the answer")


class GreetingParams(_Params):
    hello: list[str] = Field(default_factory=lambda: ["您好"])
    service: list[str] = Field(default_factory=lambda: ["客服"])
    org_names: list[str] = Field(default_factory=list, description="Besides the estate name of the prompts")
    within_s: float = Field(15.0, gt=0)


class SlangParams(_Params):
    words: list[str] = Field(min_length=1)


class CallbackParams(_Params):
    hold_s: float = Field(30.0, gt=0)
    phrases: list[str] = Field(default_factory=lambda: ["稍后回电", "给您回电", "回复您", "回电话给您", "稍后回复"])


class RegisterParams(_Params):
    within_s: float = Field(60.0, gt=0)


def _ts(at: datetime | None) -> str:
    return at.isoformat() if at else ""


def answered_within_rings(ev: CallEvidence, p: RingParams) -> CheckResult:
    if ev.answered_at is None:
        return CheckResult("na", "未接通")
    waited = (ev.answered_at - ev.received_at).total_seconds()
    limit = p.max_rings * p.ring_period_s
    span = Span("timestamps", None, None, f"振铃 {waited:.1f} 秒",
                {"received_at": _ts(ev.received_at), "answered_at": _ts(ev.answered_at), "waited_s": round(waited, 1),
                 "limit_s": limit})
    ok = waited <= limit
    return CheckResult("pass" if ok else "fail",
                       f"振铃 {waited:.1f} 秒{'，' if ok else '，超过'}{p.max_rings} 声（{limit:g} 秒）{'内接听' if ok else ''}",
                       [span])


def _said(ev: CallEvidence, phrases: list[str], within_s: float | None) -> Span | None:
    for text, span in ev.agent_utterances():
        if within_s is not None and span.start_s is not None and span.start_s > within_s:
            continue
        for phrase in phrases:
            if phrase in text:
                if span.kind == "agent_words":  # narrow the span to the words of the phrase
                    narrow = find_phrase([w for w in ev.agent_words or () if span.start_s is not None
                                          and span.end_s is not None and span.start_s <= w.start_s <= span.end_s],
                                         phrase, "agent_words")
                    return narrow or span
                return span
    return None


def _nothing_heard(ev: CallEvidence) -> bool:
    return ev.agent_words is None and not ev.prompt_matches


def agent_said(ev: CallEvidence, p: PhraseParams) -> CheckResult:
    span = _said(ev, p.phrases, p.within_s)
    if span is not None:
        return CheckResult("pass", f"坐席说了「{span.text}」", [span])
    if _nothing_heard(ev):
        return CheckResult("unknown", "坐席一侧无转写、也未识别到系统提示音，请人工听录音")
    where = f"（接听后 {p.within_s:g} 秒内）" if p.within_s else ""
    return CheckResult("fail", f"未听到{where}：{' / '.join(p.phrases)}")


def standard_greeting(ev: CallEvidence, p: GreetingParams) -> CheckResult:
    names = [n for n in (*ev.org_names, *p.org_names) if n]
    for text, span in ev.agent_utterances():
        if span.start_s is not None and span.start_s > p.within_s:
            continue
        if span.kind == "prompt" and span.detail.get("key") in ("greeting", "missed_callback"):
            return CheckResult("pass", "播放了标准问候语", [span])
        has = (any(h in text for h in p.hello), any(s in text for s in p.service),
               not names or any(n in text for n in names))
        if all(has):
            return CheckResult("pass", f"问候语「{span.text}」", [span])
    if _nothing_heard(ev):
        return CheckResult("unknown", "坐席一侧无转写、也未识别到问候语提示音，请人工听录音")
    return CheckResult("fail", f"开头 {p.within_s:g} 秒内没有「您好＋{'/'.join(names) or '物业名称'}＋客服」的问候语")


def no_slang(ev: CallEvidence, p: SlangParams) -> CheckResult:
    if ev.agent_words is None:
        if ev.prompt_matches:
            return CheckResult("pass", "仅系统提示音（无人工坐席转写），无不文明用语")
        return CheckResult("unknown", "坐席一侧无转写，请人工听录音")
    hits = [s for word in p.words if (s := find_phrase(ev.agent_words, word, "agent_words")) is not None]
    if hits:
        return CheckResult("fail", "出现不文明/不当用语：" + "、".join(h.text for h in hits), hits)
    return CheckResult("pass", "坐席转写中未发现不当用语")


def callback_offered(ev: CallEvidence, p: CallbackParams) -> CheckResult:
    long_gaps = [(a, b) for a, b in ev.agent_gaps if b - a > p.hold_s]
    if not long_gaps:
        return CheckResult("na", f"没有超过 {p.hold_s:g} 秒的查询等待")
    gap_spans = [Span("gap", a, b, f"坐席静默 {b - a:.0f} 秒") for a, b in long_gaps]
    offers = []
    for text, span in ev.agent_utterances():
        if any(ph in text for ph in p.phrases) or span.detail.get("key") == "will_call_back":
            offers.append(span)
    # the offer must come before the caller has waited much longer than the limit
    late = [g for g in long_gaps if not any(o.start_s is not None and o.start_s <= g[0] + p.hold_s + 15
                                            for o in offers)]
    if not late:
        return CheckResult("pass", "查询超过 30 秒时提出了稍后回电", [*gap_spans, *offers])
    if _nothing_heard(ev):
        return CheckResult("unknown", "有长时间静默，但坐席一侧无转写，请人工判断", gap_spans)
    return CheckResult("fail", f"等待超过 {p.hold_s:g} 秒未提出稍后回电", gap_spans)


def registered_in_time(ev: CallEvidence, p: RegisterParams) -> CheckResult:
    if ev.ended_at is None:
        return CheckResult("na", "通话未结束")
    detail = {"ended_at": _ts(ev.ended_at), "confirmed_at": _ts(ev.confirmed_at),
              "draft_ready_at": _ts(ev.draft_ready_at), "limit_s": p.within_s}
    if ev.confirmed_at is None:
        return CheckResult("fail", "台账尚未确认登记", [Span("timestamps", None, None, "未确认登记", detail)])
    took = (ev.confirmed_at - ev.ended_at).total_seconds()
    detail["took_s"] = round(took, 1)
    span = Span("timestamps", None, None, f"挂机后 {took:.0f} 秒确认登记", detail)
    ok = took <= p.within_s
    return CheckResult("pass" if ok else "fail",
                       f"挂机后 {max(took, 0):.0f} 秒确认登记（要求 {p.within_s:g} 秒内）", [span])


Check = Callable[[CallEvidence, _Params], CheckResult]
# name -> (parameter model, function). The scorecard refers to checks by these names.
CHECKS: dict[str, tuple[type[_Params], Callable[..., CheckResult]]] = {
    "answered_within_rings": (RingParams, answered_within_rings),
    "standard_greeting": (GreetingParams, standard_greeting),
    "agent_said": (PhraseParams, agent_said),
    "no_slang": (SlangParams, no_slang),
    "callback_offered": (CallbackParams, callback_offered),
    "registered_in_time": (RegisterParams, registered_in_time),
}
