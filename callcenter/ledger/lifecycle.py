"""The lifecycle of a ledger entry (台账): which status may follow which, and why not.

draft → registered → dispatched → in_progress → completed → called_back → closed, plus
cancelled and merged. The allowed moves are data (`TRANSITIONS`); each move may carry guards,
small pure functions that say why a move is refused and what to do first. Nothing here touches
the database: the ledger service builds an `EntrySnapshot` and asks `check_transition`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callcenter.drafting.terms import COMPLAINT

DRAFT, REGISTERED, DISPATCHED, IN_PROGRESS = "draft", "registered", "dispatched", "in_progress"
COMPLETED, CALLED_BACK, CLOSED, CANCELLED, MERGED = "completed", "called_back", "closed", "cancelled", "merged"
STATES = (DRAFT, REGISTERED, DISPATCHED, IN_PROGRESS, COMPLETED, CALLED_BACK, CLOSED, CANCELLED, MERGED)
# The one set of labels for the statuses: the panel (GET /api/meta), exports, reports, slips, messages.
LABELS = {DRAFT: "待确认", REGISTERED: "已登记", DISPATCHED: "已派工", IN_PROGRESS: "处理中",
          COMPLETED: "已完成", CALLED_BACK: "已回访", CLOSED: "已结案", CANCELLED: "已取消", MERGED: "已合并"}
TERMINAL = (CLOSED, CANCELLED, MERGED)
# Still the desk's business: a call can join these, a repeat is searched among them.
OPEN = (DRAFT, REGISTERED, DISPATCHED, IN_PROGRESS, COMPLETED)
# Work finished as far as the statistics go (办结); the rest of OPEN is unfinished.
HANDLED = (COMPLETED, CALLED_BACK, CLOSED)
UNFINISHED = (DRAFT, REGISTERED, DISPATCHED, IN_PROGRESS)
# Not counted at all: cancelled, or merged into the entry the call repeats.
INVALID = (CANCELLED, MERGED)

# The resident's satisfaction at a callback (回访结果); each is its own label.
SATISFIED, FAIRLY_SATISFIED, UNSATISFIED = "满意", "基本满意", "不满意"
SATISFACTIONS = (SATISFIED, FAIRLY_SATISFIED, UNSATISFIED)

__all__ = ["CALLED_BACK", "CANCELLED", "CLOSED", "COMPLAINT", "COMPLETED", "DISPATCHED", "DRAFT", "HANDLED",
           "INVALID", "IN_PROGRESS", "LABELS", "MERGED", "OPEN", "REGISTERED", "REOPENED_FROM", "SATISFACTIONS",
           "STATES", "TERMINAL", "TRANSITIONS", "UNFINISHED", "EntrySnapshot", "TransitionError",
           "allowed_targets", "check_transition", "label"]


class TransitionError(ValueError):
    """A refused status change; the message says why (中文 + English) and what to do first."""


@dataclass(frozen=True)
class EntrySnapshot:
    """What the rules need to know about an entry at the moment of a status change."""

    id: int
    status: str
    category: str = ""
    department: str = ""
    urgent: bool = False
    needs_callback: bool = False  # by the sampling rule (ledger.callback_sampling)
    last_satisfaction: str | None = None  # result of the latest callback (回访), if any


@dataclass(frozen=True)
class Request:
    """What the clerk supplies with the move."""

    note: str = ""
    satisfaction: str | None = None  # required when recording a callback (→ called_back)


Guard = Callable[[EntrySnapshot, Request], str | None]  # None = fine, else the refusal


def label(status: str) -> str:
    """The status as people read it (待确认); an unknown code as it is."""
    return LABELS.get(status, status)


def _label(status: str) -> str:
    return f"{label(status)} ({status})"


# ----- guards ------------------------------------------------------------------------------

def needs_department(e: EntrySnapshot, r: Request) -> str | None:
    if not e.department:
        return ("派工前请先填写责任部门 / set the entry's department before dispatching it")
    return None


def callback_result_given(e: EntrySnapshot, r: Request) -> str | None:
    if r.satisfaction not in SATISFACTIONS:
        return (f"记录回访须填写回访结果（{'/'.join(SATISFACTIONS)}）/ recording a callback needs its "
                f"result: one of {', '.join(SATISFACTIONS)}")
    return None


def callback_before_close(e: EntrySnapshot, r: Request) -> str | None:
    """Complaints are always called back (100 %); sampled entries too (DOMAIN.md 回访率)."""
    if e.status == CALLED_BACK:
        return None
    if e.category == COMPLAINT:
        return ("投诉必须回访后才能结案，请先回访业户并记录结果 / a complaint cannot be closed before it "
                "is called back: call the resident back and record the result first")
    if e.needs_callback:
        return ("此单被抽中回访，请先回访业户并记录结果再结案 / this entry is sampled for a callback: "
                "call the resident back and record the result before closing")
    return None


def satisfied_before_close(e: EntrySnapshot, r: Request) -> str | None:
    if e.last_satisfaction == UNSATISFIED:
        return ("业户回访不满意，不能结案；请重新处理（转为处理中）并上报主管 / the resident was not "
                "satisfied at the callback: reopen it (in_progress) and escalate, do not close")
    return None


def reopen_reason(e: EntrySnapshot, r: Request) -> str | None:
    """Reopening needs a reason: an unsatisfied callback (不满意), or a note saying why."""
    if e.last_satisfaction == UNSATISFIED or r.note.strip():
        return None
    return ("重新打开须说明原因（如回访不满意、业户再次反映）/ reopening needs a reason: an unsatisfied "
            "callback or a note saying why")


# ----- the table ---------------------------------------------------------------------------

TRANSITIONS: dict[tuple[str, str], tuple[Guard, ...]] = {
    (DRAFT, REGISTERED): (),
    (DRAFT, CANCELLED): (),
    (DRAFT, MERGED): (),
    (REGISTERED, DISPATCHED): (needs_department,),
    (REGISTERED, COMPLETED): (),  # answered on the spot (咨询 replied at once): nothing to dispatch
    (REGISTERED, CANCELLED): (),
    (REGISTERED, MERGED): (),
    (DISPATCHED, IN_PROGRESS): (),
    (DISPATCHED, COMPLETED): (),
    (DISPATCHED, CANCELLED): (),
    (IN_PROGRESS, COMPLETED): (),
    (IN_PROGRESS, CANCELLED): (),
    (COMPLETED, CALLED_BACK): (callback_result_given,),
    (COMPLETED, CLOSED): (callback_before_close,),
    (COMPLETED, IN_PROGRESS): (reopen_reason,),  # rework: the verification found it unfinished
    (CALLED_BACK, CALLED_BACK): (callback_result_given,),  # a further callback after rework
    (CALLED_BACK, CLOSED): (satisfied_before_close,),
    (CALLED_BACK, IN_PROGRESS): (reopen_reason,),  # 不满意 → reopened, escalated until satisfied
    (CLOSED, IN_PROGRESS): (reopen_reason,),  # explicit reopen
}


# Statuses a case is reopened from (back to in_progress): that move needs a reason.
REOPENED_FROM = tuple(s for s in STATES if TRANSITIONS.get((s, IN_PROGRESS)) == (reopen_reason,))


def allowed_targets(status: str) -> tuple[str, ...]:
    """The statuses an entry in `status` may move to (before guards), in lifecycle order."""
    return tuple(t for t in STATES if (status, t) in TRANSITIONS)


def _what_next(status: str) -> str:
    targets = allowed_targets(status)
    if not targets:
        return f"{_label(status)} 是终态，不能再变更 / is final and cannot change"
    return "可转为 / may move to: " + ", ".join(_label(t) for t in targets)


def check_transition(entry: EntrySnapshot, to_status: str, note: str = "",
                     satisfaction: str | None = None) -> None:
    """Raise TransitionError unless `entry` may move to `to_status` now."""
    if to_status not in STATES:
        raise TransitionError(f"未知状态 {to_status!r} / unknown status {to_status!r}; "
                              f"one of {', '.join(STATES)}")
    guards = TRANSITIONS.get((entry.status, to_status))
    if guards is None:
        raise TransitionError(f"台账 {entry.id}：不能从{_label(entry.status)}转为{_label(to_status)} / "
                              f"entry {entry.id} cannot move from {entry.status} to {to_status}; "
                              f"{_what_next(entry.status)}")
    request = Request(note=note, satisfaction=satisfaction)
    for guard in guards:
        refusal = guard(entry, request)
        if refusal is not None:
            raise TransitionError(f"台账 {entry.id}（{_label(entry.status)} → {_label(to_status)}）：{refusal}")
