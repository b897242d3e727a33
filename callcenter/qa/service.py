"""QA over the ledger: search recordings, pre-score a call on the scorecard, record the QA
person's verdicts (audited), training sets and their masked clips.

Routers call these plain methods; every write is audited like the ledger's own writes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.ledger.models import AuditLog, Call, Entry, QaReview, TrainingItem, TrainingSet
from callcenter.ledger.service import NotFound
from callcenter.qa import clip
from callcenter.qa.checks import VERDICT_LABELS
from callcenter.qa.evidence import (
    AgentTranscriber,
    CallEvidence,
    PromptSource,
    TimedWord,
    find_prompts,
    hold_gaps,
    read_stereo,
    words_from_json,
)
from callcenter.qa.scorecard import Scorecard, run_checks, score
from callcenter.qa.settings import QaSettings

log = logging.getLogger(__name__)
VERDICTS = tuple(VERDICT_LABELS)


class QaError(ValueError):
    """A request QA refuses; the message says what and why (shown in the panel)."""




@dataclass(frozen=True)
class CallFilters:
    since: datetime | None = None
    until: datetime | None = None
    owner_id: int | None = None  # the entry's 首接人 or the clerk who placed the call
    category: str | None = None
    unit: str | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    reviewed: bool | None = None
    text: str | None = None  # words in the transcript


@dataclass(frozen=True)
class CallRow:
    call: Call
    entry: Entry | None
    review: QaReview | None


@dataclass(frozen=True)
class Decision:
    verdict: str
    note: str = ""


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _span_json(span: Any) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(span).items() if v not in (None, "", {})}


class QaService:
    def __init__(self, engine: Engine, clock: Clock, recordings: Any, scorecard: Scorecard,
                 settings: QaSettings | None = None, *, prompts: PromptSource | None = None,
                 org_names: tuple[str, ...] = (), transcribe_agent: AgentTranscriber | None = None,
                 estate_prompts: Mapping[int, PromptSource] | None = None) -> None:
        """`recordings` resolves keys (`path_of`); `prompts` are the agent's clips to find in the
        recording (`estate_prompts`: those of a call's estate, its own greeting); `transcribe_agent`
        transcribes the agent (right) channel when a model exists."""
        self.engine = engine
        self.clock = clock
        self.recordings = recordings
        self.scorecard = scorecard
        self.settings = settings or QaSettings()
        self.prompts = prompts
        self.estate_prompts = dict(estate_prompts or {})
        self.org_names = org_names
        self.transcribe_agent = transcribe_agent

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _audit(self, s: Session, actor: str, call: Call, action: str, field: str = "", old: str = "",
               new: str = "") -> None:
        s.add(AuditLog(at=self.clock.now(), actor=actor, entry_id=call.entry_id, call_id=call.id,
                       action=action, field=field[:32], old=old, new=new))

    def _call(self, s: Session, call_id: int) -> Call:
        call = s.get(Call, call_id)
        if call is None:
            raise NotFound(f"no call {call_id}")
        return call

    # ----- browsing ------------------------------------------------------------------------------

    def search(self, f: CallFilters, limit: int = 50, offset: int = 0) -> tuple[int, list[CallRow]]:
        conds: list[Any] = [Call.recording_key != ""]
        if f.since:
            conds.append(col(Call.received_at) >= f.since)
        if f.until:
            conds.append(col(Call.received_at) < f.until)
        if f.owner_id is not None:
            conds.append(or_(col(Entry.owner_id) == f.owner_id, col(Call.user_id) == f.owner_id))
        if f.category:
            conds.append(col(Entry.category) == f.category)
        if f.unit:
            conds.append(col(Entry.unit) == f.unit)
        if f.min_duration_s is not None:
            conds.append(col(Call.recording_duration_ms) >= int(f.min_duration_s * 1000))
        if f.max_duration_s is not None:
            conds.append(col(Call.recording_duration_ms) <= int(f.max_duration_s * 1000))
        if f.min_score is not None:
            conds.append(col(QaReview.score) >= f.min_score)
        if f.max_score is not None:
            conds.append(col(QaReview.score) <= f.max_score)
        if f.reviewed is True:
            conds.append(col(QaReview.status) == "reviewed")
        elif f.reviewed is False:
            conds.append(or_(col(QaReview.id).is_(None), col(QaReview.status) != "reviewed"))
        if f.text:
            conds.append(col(Call.transcript_text).like(_like(f.text), escape="\\"))
        base = (select(Call, Entry, QaReview)
                .outerjoin(Entry, col(Entry.id) == col(Call.entry_id))
                .outerjoin(QaReview, col(QaReview.call_id) == col(Call.id)).where(*conds))
        with self.session() as s:
            total = s.exec(select(func.count()).select_from(base.subquery())).one()
            rows = s.exec(base.order_by(col(Call.received_at).desc(), col(Call.id).desc())
                          .limit(limit).offset(offset)).all()
            return int(total), [CallRow(c, e, r) for c, e, r in rows]

    def row(self, call_id: int) -> CallRow:
        with self.session() as s:
            call = self._call(s, call_id)
            entry = s.get(Entry, call.entry_id) if call.entry_id else None
            review = s.exec(select(QaReview).where(QaReview.call_id == call_id)).first()
            return CallRow(call, entry, review)

    # ----- evidence and the automatic pre-score ----------------------------------------------

    def _recording_path(self, call: Call) -> Path | None:
        if not call.recording_key or call.recording_deleted_at is not None:
            return None
        path = Path(self.recordings.path_of(call.recording_key))  # key check: never a request path
        return path if path.is_file() else None

    def evidence(self, call_id: int) -> CallEvidence:
        with self.session() as s:
            call = self._call(s, call_id)
            entry = s.get(Entry, call.entry_id) if call.entry_id else None
        path = self._recording_path(call)
        matches, gaps, agent_words = [], [], None
        if path is not None:
            caller_pcm, agent_pcm = read_stereo(path)
            prompts = self.estate_prompts.get(call.estate_id, self.prompts)
            if prompts is not None:
                matches = find_prompts(agent_pcm, prompts, self.settings.prompt_match_threshold)
            hold_s = min((float(i.params.get("hold_s", 30)) for i in self.scorecard.items
                          if i.check == "callback_offered"), default=30.0)
            gaps = hold_gaps(caller_pcm, agent_pcm, hold_s)
            if self.transcribe_agent is not None:
                try:
                    agent_words = tuple(self.transcribe_agent(path))
                except Exception as exc:  # no model yet: the prompt clips still count
                    log.warning("call %s: agent channel not transcribed (%s)", call_id, exc)
        if agent_words is None and call.clerk_transcript_words:
            # No transcriber here (or it failed), but the clerk who took the bridged call was
            # transcribed after it: their words are judged like any agent's (no_slang, 谢谢...).
            agent_words = words_from_json(call.clerk_transcript_words)
        duration = call.recording_duration_ms / 1000 if call.recording_duration_ms is not None else None
        return CallEvidence(
            call_id=call_id, received_at=call.received_at, answered_at=call.answered_at,
            ended_at=call.ended_at, confirmed_at=entry.confirmed_at if entry else None,
            draft_ready_at=entry.draft_ready_at if entry else None, duration_s=duration,
            caller_words=words_from_json(call.transcript_words), agent_words=agent_words,
            prompt_matches=tuple(matches), agent_gaps=tuple(gaps), org_names=self.org_names)

    def auto_review(self, call_id: int, actor: str) -> QaReview:
        """Create or refresh the call's automatic pre-score. A reviewed result keeps its final part."""
        ev = self.evidence(call_id)
        results = run_checks(self.scorecard, ev)
        scored = score(self.scorecard, {k: r.verdict for k, r in results.items()})
        auto = {
            "scorecard": self.scorecard.ref,
            "items": [{"id": i.id, "label": i.label, "weight": i.weight, "critical": i.critical,
                       "check": i.check, "verdict": results[i.id].verdict, "detail": results[i.id].detail,
                       "evidence": [_span_json(sp) for sp in results[i.id].evidence]}
                      for i in self.scorecard.items],
            "score": scored.score, "passed": scored.passed, "critical_failed": scored.critical_failed,
            "agent_transcribed": ev.agent_words is not None,
            "prompts_found": [m.key for m in ev.prompt_matches],
        }
        now = self.clock.now()
        with self.session() as s:
            call = self._call(s, call_id)
            review = s.exec(select(QaReview).where(QaReview.call_id == call_id)).first()
            if review is None:
                review = QaReview(call_id=call_id, scorecard=self.scorecard.ref[:64], created_at=now)
            review.auto = auto
            if review.status != "reviewed":
                review.score, review.passed = scored.score, scored.passed
            s.add(review)
            self._audit(s, actor, call, "qa_auto", new=f"{scored.score}")
            s.commit()
            return review

    def review(self, call_id: int) -> QaReview:
        with self.session() as s:
            self._call(s, call_id)
            review = s.exec(select(QaReview).where(QaReview.call_id == call_id)).first()
            if review is None:
                raise NotFound(f"call {call_id} has no review yet")
            return review

    def finalize(self, call_id: int, decisions: dict[str, Decision], note: str, actor: str) -> QaReview:
        """The QA person's verdict per item: confirm the pre-score or override it (with a note).
        Items not given keep the automatic verdict. Every override is audited."""
        unknown = set(decisions) - {i.id for i in self.scorecard.items}
        if unknown:
            raise QaError(f"评分表中没有这些项目：{', '.join(sorted(unknown))}")
        with self.session() as s:
            call = self._call(s, call_id)
            review = s.exec(select(QaReview).where(QaReview.call_id == call_id)).first()
            if review is None:
                raise QaError("请先生成自动预评分 (POST /api/qa/calls/{id}/review)")
            auto_items = {it["id"]: it for it in review.auto.get("items", [])}
            final: dict[str, Any] = {}
            for item in self.scorecard.items:
                auto_verdict = auto_items.get(item.id, {}).get("verdict", "unknown")
                d = decisions.get(item.id, Decision(auto_verdict))
                if d.verdict not in VERDICTS:
                    raise QaError(f"{item.label}：结果须为 {'/'.join(VERDICTS)}")
                overridden = d.verdict != auto_verdict
                if overridden and not d.note.strip():
                    raise QaError(f"{item.label}：更改自动评分须填写说明")
                final[item.id] = {"verdict": d.verdict, "note": d.note.strip(), "overridden": overridden,
                                  "auto": auto_verdict}
                if overridden:
                    self._audit(s, actor, call, "qa_override", field=item.id, old=auto_verdict,
                                new=f"{d.verdict}：{d.note.strip()}")
            scored = score(self.scorecard, {k: v["verdict"] for k, v in final.items()})
            now = self.clock.now()
            old = f"{review.score}/{review.passed}"
            review.final = {"items": final, "critical_failed": scored.critical_failed,
                            "scorecard": self.scorecard.ref}
            review.score, review.passed = scored.score, scored.passed
            review.status, review.reviewer, review.reviewed_at, review.note = "reviewed", actor, now, note
            s.add(review)
            self._audit(s, actor, call, "qa_reviewed", field="score", old=old,
                        new=f"{scored.score}/{scored.passed}")
            s.commit()
            return review

    # ----- training sets (典型案例) ------------------------------------------------------------

    def create_set(self, name: str, description: str, actor: str) -> TrainingSet:
        name = name.strip()
        if not name:
            raise QaError("案例集名称不能为空")
        with self.session() as s:
            ts = TrainingSet(name=name[:64], description=description, created_by=actor, created_at=self.clock.now())
            s.add(ts)
            try:
                s.commit()
            except IntegrityError as exc:
                raise QaError(f"已有名为「{name}」的案例集") from exc
            return ts

    def sets(self) -> list[tuple[TrainingSet, list[TrainingItem]]]:
        with self.session() as s:
            sets = s.exec(select(TrainingSet).order_by(col(TrainingSet.created_at).desc())).all()
            items = s.exec(select(TrainingItem).order_by(col(TrainingItem.id))).all()
            return [(ts, [i for i in items if i.set_id == ts.id]) for ts in sets]

    def add_item(self, set_id: int, call_id: int, start_ms: int, end_ms: int | None, note: str,
                 actor: str) -> TrainingItem:
        if start_ms < 0 or (end_ms is not None and end_ms <= start_ms):
            raise QaError("片段的结束时间须晚于开始时间")
        with self.session() as s:
            if s.get(TrainingSet, set_id) is None:
                raise NotFound(f"no training set {set_id}")
            call = self._call(s, call_id)
            if not call.recording_key or call.recording_deleted_at is not None:
                raise QaError("该通话没有录音（或已按保存期限删除）")
            if call.recording_duration_ms is not None and start_ms >= call.recording_duration_ms:
                raise QaError(f"开始时间超出录音长度（{call.recording_duration_ms / 1000:.1f} 秒）")
            item = TrainingItem(set_id=set_id, call_id=call_id, start_ms=start_ms, end_ms=end_ms, note=note,
                                added_by=actor, added_at=self.clock.now())
            s.add(item)
            self._audit(s, actor, call, "training_added", field="set", new=f"{set_id}:{start_ms}-{end_ms}")
            s.commit()
            return item

    def export_clip(self, item_id: int, actor: str) -> tuple[str, bytes]:
        """(file name, ZIP bytes) of one training item; audited (it leaves the system)."""
        with self.session() as s:
            item = s.get(TrainingItem, item_id)
            if item is None:
                raise NotFound(f"no training item {item_id}")
            call = self._call(s, item.call_id)
            entry = s.get(Entry, call.entry_id) if call.entry_id else None
            ts = s.get(TrainingSet, item.set_id)
        path = self._recording_path(call)
        if path is None:
            raise QaError("该通话的录音不存在（或已删除），无法导出")
        caller, agent = read_stereo(path)
        agent_words: tuple[TimedWord, ...] = ()
        if self.transcribe_agent is not None:
            try:
                agent_words = tuple(self.transcribe_agent(path))
            except Exception as exc:
                log.warning("call %s: agent channel not transcribed for the clip (%s)", call.id, exc)
        data = clip.build_clip(np.stack([caller, agent], axis=1), item.start_ms, item.end_ms,
                               words_from_json(call.transcript_words), agent_words,
                               entry.caller_name if entry else "",
                               {"call_id": call.id, "training_set": ts.name if ts else "", "note": item.note,
                                "category": entry.category if entry else ""})
        with self.session() as s:
            self._audit(s, actor, call, "training_export", field="item", new=str(item_id))
            s.commit()
        return f"training-{item_id}-call-{call.id}.zip", data
