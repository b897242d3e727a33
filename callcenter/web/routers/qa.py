"""QA routes (质检): search recordings, pre-score and review calls, training sets and clips.
All need `score_calls`; calls and items are addressed by id only, never by a path."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from callcenter.accounts import Principal
from callcenter.estates.reading import only_estates
from callcenter.ledger.models import Call, QaReview, TrainingItem, TrainingSet
from callcenter.ledger.service import NotFound
from callcenter.qa.dialogue import dialogue
from callcenter.qa.evidence import words_from_json
from callcenter.qa.service import CallFilters, CallRow, Decision, QaError
from callcenter.web.deps import NO_QA, Qa, Scoring, available
from callcenter.web.estate_scope import EstateFilter, Scope
from callcenter.web.masking import mask_phone, mask_text, mask_words, must_mask
from callcenter.web.schemas import INT_MAX, Instant, Offset, OwnerId, RowId, refusals
from callcenter.web.security import require

router = APIRouter(prefix="/api/qa", tags=["qa"], responses=refusals(401, 403, 422, 503))
# Transcripts and summaries say phone numbers too, in any format: masked as in the number column.
_mask_text = mask_text
_mask_words = mask_words


SCORE = require("score_calls")
MAX_DURATION_S = 86_400.0  # no call lasts a day; larger bounds would overflow the ms columns


class ReviewOut(BaseModel):
    call_id: int
    scorecard: str
    status: str
    auto: dict[str, Any]
    final: dict[str, Any]
    score: float | None
    passed: bool | None
    reviewer: str
    note: str
    created_at: datetime
    reviewed_at: datetime | None

    @classmethod
    def of(cls, r: QaReview) -> ReviewOut:
        return cls(call_id=r.call_id, scorecard=r.scorecard, status=r.status, auto=r.auto, final=r.final,
                   score=r.score, passed=r.passed, reviewer=r.reviewer, note=r.note, created_at=r.created_at,
                   reviewed_at=r.reviewed_at)


class DialogueWordOut(BaseModel):
    text: str
    start_s: float
    end_s: float


class DialogueLineOut(BaseModel):
    speaker: str  # caller / clerk (callcenter/qa/dialogue.py SPEAKERS)
    label: str  # 来电人 / 坐席
    start_s: float  # seconds from the recording's start
    end_s: float
    text: str
    words: list[DialogueWordOut]


def _dialogue(c: Call, mask: bool) -> list[DialogueLineOut]:
    """Caller and clerk lines in time order; numbers masked on each side as in the transcript."""
    caller = _mask_words(c.transcript_words) if mask else c.transcript_words
    clerk = _mask_words(c.clerk_transcript_words) if mask else c.clerk_transcript_words
    return [DialogueLineOut(speaker=line.speaker, label=line.label, start_s=line.start_s, end_s=line.end_s,
                            text=line.text, words=[DialogueWordOut(text=w.text, start_s=w.start_s, end_s=w.end_s)
                                                   for w in line.words])
            for line in dialogue(words_from_json(caller), words_from_json(clerk))]


class QaCallOut(BaseModel):
    id: int
    received_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    caller_number: str
    direction: str
    entry_id: int | None
    owner_id: int | None
    category: str
    unit: str
    caller_name: str
    summary: str
    recording_url: str | None
    recording_duration_ms: int | None
    recording_deleted: bool
    transcript: str
    transcript_words: list[dict[str, Any]] | None = None
    # A call bridged to a clerk: their side's transcript status ("" when none is owed), and both
    # speakers' lines interleaved by time (with the words, like transcript_words).
    clerk_transcript_status: str = ""
    dialogue: list[DialogueLineOut] | None = None
    review_status: str | None
    score: float | None
    passed: bool | None

    @classmethod
    def of(cls, row: CallRow, *, mask: bool, words: bool = False) -> QaCallOut:
        c, e, r = row.call, row.entry, row.review
        assert c.id is not None
        live = bool(c.recording_key) and c.recording_deleted_at is None
        return cls(id=c.id, received_at=c.received_at, answered_at=c.answered_at, ended_at=c.ended_at,
                   caller_number=mask_phone(c.caller_number) if mask else c.caller_number, direction=c.direction,
                   entry_id=c.entry_id, owner_id=e.owner_id if e else None, category=e.category if e else "",
                   unit=e.unit if e else "", caller_name=e.caller_name if e else "",
                   summary=_mask_text(e.summary) if e and mask else (e.summary if e else ""),
                   recording_url=f"/api/calls/{c.id}/recording" if live else None,
                   recording_duration_ms=c.recording_duration_ms, recording_deleted=c.recording_deleted_at is not None,
                   transcript=_mask_text(c.transcript_text) if mask else c.transcript_text,
                   transcript_words=(_mask_words(c.transcript_words) if mask else c.transcript_words) if words else None,
                   clerk_transcript_status=c.clerk_transcript_status,
                   dialogue=_dialogue(c, mask) if words else None,
                   review_status=r.status if r else None, score=r.score if r else None, passed=r.passed if r else None)


class QaCallPage(BaseModel):
    total: int
    items: list[QaCallOut]


@router.get("/calls", response_model=QaCallPage)
def search_calls(since: Instant | None = None, until: Instant | None = None,
                 owner: OwnerId = None, category: str | None = Query(None, max_length=32),
                 unit: str | None = Query(None, max_length=32),
                 min_duration_s: float | None = Query(None, ge=0, le=MAX_DURATION_S),
                 max_duration_s: float | None = Query(None, ge=0, le=MAX_DURATION_S),
                 min_score: float | None = Query(None, ge=0, le=100), max_score: float | None = Query(None, ge=0, le=100),
                 reviewed: bool | None = None, q: str | None = Query(None, max_length=100),
                 limit: int = Query(50, ge=1, le=500), offset: Offset = 0,
                 who: Principal = Depends(SCORE), *, qa: Qa, estates: EstateFilter) -> QaCallPage:
    """`estate`: one estate's calls (within the reader's estates, which bound the search anyway)."""
    qa = available(qa, NO_QA)
    f = CallFilters(since=since, until=until, owner_id=owner, category=category or None, unit=unit or None,
                    min_duration_s=min_duration_s, max_duration_s=max_duration_s, min_score=min_score,
                    max_score=max_score, reviewed=reviewed, text=q or None)
    with only_estates(estates):  # the reader's estates only (web/estate_scope.py)
        total, rows = qa.search(f, limit=limit, offset=offset)
    return QaCallPage(total=total, items=[QaCallOut.of(r, mask=must_mask(who)) for r in rows])


@router.get("/calls/{call_id}", response_model=QaCallOut, responses=refusals(404))
def get_call(call_id: RowId, who: Principal = Depends(SCORE), *, qa: Qa) -> QaCallOut:
    qa = available(qa, NO_QA)
    try:
        return QaCallOut.of(qa.row(call_id), mask=must_mask(who), words=True)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话") from exc


@router.get("/scorecard")
def get_scorecard(_: Principal = Depends(SCORE), *, qa: Qa) -> dict[str, Any]:
    qa = available(qa, NO_QA)
    return qa.scorecard.model_dump()


@router.post("/calls/{call_id}/review", response_model=ReviewOut, responses=refusals(404))
def pre_score(call_id: RowId, who: Principal = Depends(SCORE), *, qa: Qa) -> ReviewOut:
    """Create or refresh the automatic pre-score (with its evidence)."""
    qa = available(qa, NO_QA)
    try:
        return ReviewOut.of(qa.auto_review(call_id, who.username))
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话") from exc


class ScoringOut(BaseModel):
    state: str  # none / running / done / failed
    elapsed_s: float
    error: str = ""


@router.post("/calls/{call_id}/review/job", response_model=ScoringOut, status_code=202, responses=refusals(404))
def start_pre_score(call_id: RowId, jobs: Scoring, who: Principal = Depends(SCORE), *, qa: Qa) -> ScoringOut:
    """Start the automatic pre-score in the background (answers at once); follow it with GET."""
    available(qa, NO_QA)
    try:
        state = available(jobs, NO_QA).start(call_id, who.username)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话") from exc
    return ScoringOut(state=state.state, elapsed_s=state.elapsed_s, error=state.error)


@router.get("/calls/{call_id}/review/job", response_model=ScoringOut)
def pre_score_progress(call_id: RowId, jobs: Scoring, _: Principal = Depends(SCORE), *, qa: Qa) -> ScoringOut:
    """How far the background pre-score is: running (with the seconds so far), done, failed, none."""
    available(qa, NO_QA)
    state = available(jobs, NO_QA).state(call_id)
    return ScoringOut(state=state.state, elapsed_s=state.elapsed_s, error=state.error)


@router.get("/calls/{call_id}/review", response_model=ReviewOut, responses=refusals(404))
def get_review(call_id: RowId, _: Principal = Depends(SCORE), *, qa: Qa) -> ReviewOut:
    qa = available(qa, NO_QA)
    try:
        return ReviewOut.of(qa.review(call_id))
    except NotFound as exc:
        raise HTTPException(404, "该通话尚未评分") from exc


class ItemDecision(BaseModel):
    verdict: Literal["pass", "fail", "na", "unknown"]
    note: str = Field("", max_length=500)


class ReviewIn(BaseModel):
    items: dict[str, ItemDecision] = Field(default_factory=dict)
    note: str = Field("", max_length=2000)


@router.put("/calls/{call_id}/review", response_model=ReviewOut, responses=refusals(404))
def finalize_review(call_id: RowId, body: ReviewIn, who: Principal = Depends(SCORE), *, qa: Qa) -> ReviewOut:
    """The QA person's final verdicts: items left out keep the automatic one."""
    qa = available(qa, NO_QA)
    decisions = {k: Decision(v.verdict, v.note) for k, v in body.items.items()}
    try:
        return ReviewOut.of(qa.finalize(call_id, decisions, body.note, who.username))
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话") from exc
    except QaError as exc:
        raise HTTPException(422, str(exc)) from exc


# ----- training sets ------------------------------------------------------------------------------

class TrainingItemOut(BaseModel):
    id: int
    call_id: int
    start_ms: int
    end_ms: int | None
    note: str
    added_by: str
    added_at: datetime
    clip_url: str

    @classmethod
    def of(cls, i: TrainingItem) -> TrainingItemOut:
        assert i.id is not None
        return cls(id=i.id, call_id=i.call_id, start_ms=i.start_ms, end_ms=i.end_ms, note=i.note,
                   added_by=i.added_by, added_at=i.added_at, clip_url=f"/api/qa/training-items/{i.id}/clip.zip")


class TrainingSetOut(BaseModel):
    id: int
    name: str
    description: str
    created_by: str
    created_at: datetime
    items: list[TrainingItemOut]

    @classmethod
    def of(cls, ts: TrainingSet, items: list[TrainingItem]) -> TrainingSetOut:
        assert ts.id is not None
        return cls(id=ts.id, name=ts.name, description=ts.description, created_by=ts.created_by,
                   created_at=ts.created_at, items=[TrainingItemOut.of(i) for i in items])


class TrainingSetIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=2000)


class TrainingItemIn(BaseModel):
    call_id: int = Field(ge=1, le=INT_MAX)
    start_ms: int = Field(0, ge=0, le=INT_MAX)
    end_ms: int | None = Field(None, gt=0, le=INT_MAX)
    note: str = Field("", max_length=2000)


@router.get("/training-sets", response_model=list[TrainingSetOut])
def list_sets(_: Principal = Depends(SCORE), *, qa: Qa) -> list[TrainingSetOut]:
    qa = available(qa, NO_QA)
    return [TrainingSetOut.of(ts, items) for ts, items in qa.sets()]


@router.post("/training-sets", response_model=TrainingSetOut, status_code=201, responses=refusals(409))
def create_set(body: TrainingSetIn, who: Principal = Depends(SCORE), *, qa: Qa) -> TrainingSetOut:
    qa = available(qa, NO_QA)
    try:
        return TrainingSetOut.of(qa.create_set(body.name, body.description, who.username), [])
    except QaError as exc:
        raise HTTPException(409, str(exc)) from exc


@router.post("/training-sets/{set_id}/items", response_model=TrainingItemOut, status_code=201,
             responses=refusals(404))
def add_item(set_id: RowId, body: TrainingItemIn, who: Principal = Depends(SCORE), *, qa: Qa,
             scope: Scope) -> TrainingItemOut:
    qa = available(qa, NO_QA)
    try:
        if not scope.allows(qa.row(body.call_id).call.estate_id):  # another estate's call: as if absent
            raise NotFound(f"call {body.call_id}")
        return TrainingItemOut.of(qa.add_item(set_id, body.call_id, body.start_ms, body.end_ms,
                                                        body.note, who.username))
    except NotFound as exc:
        raise HTTPException(404, "没有这个案例集或通话") from exc
    except QaError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/training-items/{item_id}/clip.zip", response_class=Response,
            responses={200: {"content": {"application/zip": {}}}, **refusals(404, 410)})
def export_clip(item_id: RowId, who: Principal = Depends(SCORE), *, qa: Qa) -> Response:
    """The masked training clip: clip.wav + transcript.txt + transcript.json."""
    qa = available(qa, NO_QA)
    try:
        name, data = qa.export_clip(item_id, who.username)
    except NotFound as exc:
        raise HTTPException(404, "没有这个案例") from exc
    except QaError as exc:
        raise HTTPException(410, str(exc)) from exc
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private"})
