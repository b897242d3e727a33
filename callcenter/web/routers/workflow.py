"""The case workflow over HTTP: lifecycle moves, work orders and their slips, callback tasks
(logged or placed through the agent), notifications and the shift handover."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from callcenter.accounts import Principal
from callcenter.estates.reading import only_estates
from callcenter.ledger.lifecycle import LABELS, SATISFACTIONS, STATES, allowed_targets, label
from callcenter.ledger.models import CallbackTask, Handover, Notification, WorkOrder
from callcenter.ledger.service import LedgerError, NotFound
from callcenter.ledger.versions import StaleWrite
from callcenter.web.deps import NO_DIALER, NO_WORKFLOW, Dialer, Workflow, available
from callcenter.web.estate_scope import EstateFilter
from callcenter.web.masking import mask_phone, mask_text, must_mask
from callcenter.web.schemas import RowId, refusals
from callcenter.web.security import current_principal, require
from callcenter.workflow.callback_tasks import KINDS as TASK_KINDS
from callcenter.workflow.callback_tasks import LOGGED_OUTCOMES
from callcenter.workflow.callback_tasks import STATUSES as TASK_STATUSES
from callcenter.workflow.cases import CaseWorkflow
from callcenter.workflow.work_orders import KINDS, NewWorkOrder
from callcenter.workflow.work_orders import LABELS as ORDER_LABELS
from callcenter.workflow.work_orders import STATUSES as ORDER_STATUSES

router = APIRouter(prefix="/api", tags=["workflow"], responses=refusals(401, 422, 503))


@contextmanager
def _refusals(what: str = "台账") -> Iterator[None]:
    """The service's refusals as HTTP: unknown → 404, refused by a rule → 422 with the reason."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, f"没有这条{what} / not found: {exc}") from exc
    except StaleWrite as exc:
        raise HTTPException(409, f"这条{what}已被他人修改，您的操作未生效；请刷新后核对再操作 / changed by someone else "
                                 f"since you opened it (version {exc.current})") from exc
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from exc


# ----- schemas ----------------------------------------------------------------------------

class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_status: Literal[STATES]  # type: ignore[valid-type]
    note: str = Field("", max_length=500)
    satisfaction: Literal[SATISFACTIONS] | None = None  # type: ignore[valid-type]


class ClockOut(BaseModel):
    clock: str
    label: str
    subject: str
    due_at: str
    left_s: int
    state: str


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[tuple(KINDS)] = "dispatch"  # type: ignore[valid-type]
    department: str = Field("", max_length=16)
    description: str = Field("", max_length=1000)
    location: str = Field("", max_length=64)
    paid: bool = False
    fee: str = Field("", max_length=32)
    assignee: str = Field("", max_length=64)


class WorkOrderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal[ORDER_STATUSES] | None = None  # type: ignore[valid-type]
    assignee: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=1000)
    location: str | None = Field(None, max_length=64)
    paid: bool | None = None
    fee: str | None = Field(None, max_length=32)
    result: str | None = Field(None, max_length=1000)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="the version the form showed (409 if newer)")


class WorkOrderOut(BaseModel):
    id: int
    number: str
    entry_id: int
    kind: str
    kind_label: str
    department: str
    status: str
    status_label: str
    location: str
    description: str
    paid: bool
    fee: str
    assignee: str
    result: str
    created_by: str
    created_at: datetime
    accepted_at: datetime | None
    completed_at: datetime | None
    version: int = 1


class CallbackTaskOut(BaseModel):
    id: int
    entry_id: int
    kind: str
    reason: str = ""  # a missed_call task: why it is owed (vocab callback_reasons); "" for a 回访
    status: str
    number: str
    created_at: datetime
    due_at: datetime
    left_s: int
    state: str
    attempts: int
    done_at: datetime | None
    actor: str
    method: str
    outcome: str
    satisfaction: str
    notes: str
    call_id: int | None
    version: int = 1


class CallbackLogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal[LOGGED_OUTCOMES]  # type: ignore[valid-type]
    satisfaction: Literal[(*SATISFACTIONS, "")] = ""  # type: ignore[valid-type]
    notes: str = Field("", max_length=1000)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="the version the form showed (409 if newer)")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=500)


class DialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extension: str = Field(..., pattern=r"^[0-9A-Za-z_.+-]{1,32}$", description="The clerk's own SIP extension")


class WorkflowOut(BaseModel):
    entry_id: int
    status: str
    status_label: str
    allowed: list[dict[str, str]]
    clocks: list[ClockOut]
    work_orders: list[WorkOrderOut]
    callbacks: list[CallbackTaskOut]


class NotificationOut(BaseModel):
    id: int
    at: datetime
    kind: str
    severity: str
    audience: str
    title: str
    body: str
    entry_id: int | None
    link: str
    acknowledged_at: datetime | None
    acknowledged_by: str


class HandoverOut(BaseModel):
    id: int
    shift_change_at: datetime
    shift_name: str
    created_at: datetime
    items: list[dict[str, Any]]
    open_count: int
    note: str
    acknowledged_at: datetime | None
    acknowledged_by: str


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=500)


def _order_out(wf: CaseWorkflow, o: WorkOrder) -> WorkOrderOut:
    assert o.id is not None
    return WorkOrderOut(id=o.id, number=wf.work_orders.number(o), entry_id=o.entry_id, kind=o.kind,
                        kind_label=KINDS[o.kind], department=o.department, status=o.status,
                        status_label=ORDER_LABELS[o.status], location=o.location, description=o.description,
                        paid=o.paid, fee=o.fee, assignee=o.assignee, result=o.result, created_by=o.created_by,
                        created_at=o.created_at, accepted_at=o.accepted_at, completed_at=o.completed_at,
                        version=o.version)


def _task_out(wf: CaseWorkflow, t: CallbackTask, who: Principal) -> CallbackTaskOut:
    assert t.id is not None
    now = wf.clocks.clock.now()
    left = round((t.due_at - now).total_seconds())
    if t.status != "open":
        state = "done"
    elif left < 0:
        state = "red"
    else:
        span = (t.due_at - t.created_at).total_seconds()
        state = "amber" if span <= 0 or (now - t.created_at).total_seconds() >= wf.settings.amber_at * span else "ok"
    return CallbackTaskOut(id=t.id, entry_id=t.entry_id, kind=t.kind, reason=t.reason, status=t.status,
                           number=mask_phone(t.number) if must_mask(who) else t.number, created_at=t.created_at,
                           due_at=t.due_at, left_s=left, state=state, attempts=t.attempts, done_at=t.done_at,
                           actor=t.actor, method=t.method, outcome=t.outcome, satisfaction=t.satisfaction,
                           notes=mask_text(t.notes) if must_mask(who) else t.notes, call_id=t.call_id,
                           version=t.version)


# ----- lifecycle --------------------------------------------------------------------------

# Moves that have their own route, because they carry more than a status.
_OTHER_PATHS = {"registered": "登记请用「确认登记」（含首接人与更正记录）/ register through POST /api/entries/{id}/confirm",
                "merged": "合并请用「关联来电」/ merge by linking the call: POST /api/calls/{id}/link"}

@router.get("/entries/{entry_id}/workflow", response_model=WorkflowOut, responses=refusals(404))
def entry_workflow(entry_id: RowId, who: Principal = Depends(current_principal), *, wf: Workflow) -> WorkflowOut:
    """Everything the entry page needs to move the case on: allowed moves, clocks, orders, tasks."""
    wf = available(wf, NO_WORKFLOW)
    with _refusals():
        entry = wf.ledger.get_entry(entry_id)
    return WorkflowOut(entry_id=entry_id, status=entry.status, status_label=label(entry.status),
                       allowed=[{"status": t, "label": LABELS[t]} for t in allowed_targets(entry.status)
                                if t not in _OTHER_PATHS],
                       clocks=[ClockOut(**c) for c in wf.clocks.view(entry_id)],
                       work_orders=[_order_out(wf, o) for o in wf.work_orders.of_entry(entry_id)],
                       callbacks=[_task_out(wf, t, who) for t in wf.callbacks.list(status=None, entry_id=entry_id)])


@router.post("/entries/{entry_id}/transition", response_model=WorkflowOut, responses=refusals(403, 404))
def transition(entry_id: RowId, body: TransitionIn,
               who: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> WorkflowOut:
    wf = available(wf, NO_WORKFLOW)
    if body.to_status in _OTHER_PATHS:
        raise HTTPException(422, _OTHER_PATHS[body.to_status])
    with _refusals():
        open_callbacks = wf.callbacks.list(entry_id=entry_id, kind="callback")
        if body.to_status == "called_back" and open_callbacks:
            # one path for a callback's result: the task records it and moves the entry
            wf.callbacks.log_result(open_callbacks[0].id or 0, "connected", who.username,
                                    satisfaction=body.satisfaction or "", notes=body.note)
        elif body.to_status == "called_back":
            # a callback nobody had asked for: the same path (kept, counted, 不满意 reopens and escalates)
            wf.callbacks.record_unplanned(entry_id, who.username, body.satisfaction or "", notes=body.note)
        else:
            wf.ledger.transition(entry_id, body.to_status, who.username, note=body.note,
                                 satisfaction=body.satisfaction)
    wf.drain()  # the clocks and tasks this move starts are part of the answer
    return entry_workflow(entry_id, who, wf=wf)


# ----- work orders ------------------------------------------------------------------------

@router.post("/entries/{entry_id}/work-orders", response_model=WorkOrderOut, status_code=201,
             responses=refusals(403, 404))
def create_work_order(entry_id: RowId, body: WorkOrderIn,
                      who: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> WorkOrderOut:
    wf = available(wf, NO_WORKFLOW)
    with _refusals():
        row = wf.work_orders.create(entry_id, NewWorkOrder(**body.model_dump()), who.username)
    wf.drain()
    return _order_out(wf, row)


@router.get("/work-orders", response_model=list[WorkOrderOut])
def list_work_orders(department: str | None = Query(None, max_length=16),
                     status: str | None = Query(None, max_length=16),
                     limit: int = Query(100, ge=1, le=500),
                     _: Principal = Depends(current_principal), *, wf: Workflow,
                     estates: EstateFilter) -> list[WorkOrderOut]:
    wf = available(wf, NO_WORKFLOW)
    rows = wf.work_orders.list(department=department, status=status, limit=limit, estate_ids=estates)
    return [_order_out(wf, o) for o in rows]


@router.patch("/work-orders/{order_id}", response_model=WorkOrderOut, responses=refusals(403, 404, 409))
def update_work_order(order_id: RowId, body: WorkOrderPatch,
                      who: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> WorkOrderOut:
    wf = available(wf, NO_WORKFLOW)
    with _refusals("派工单"):
        changes = body.model_dump(exclude_none=True)
        based_on = changes.pop("version", None)
        row = wf.work_orders.update(order_id, changes, who.username, based_on=based_on)
    wf.drain()
    return _order_out(wf, row)


@router.get("/work-orders/{order_id}/slip", response_class=HTMLResponse, responses=refusals(404))
def work_order_slip(order_id: RowId, who: Principal = Depends(current_principal), *, wf: Workflow) -> HTMLResponse:
    """Print-ready slip (Chinese, A5): the ledger's fields, so slip and ledger always agree. For a
    role that may not see phone numbers, every number on it is masked (caller, summary, notes)."""
    wf = available(wf, NO_WORKFLOW)
    with _refusals("派工单"):
        order = wf.work_orders.get(order_id)
        done = [t for t in wf.callbacks.list(status="done", entry_id=order.entry_id, kind="callback")]
        callback_at = f"{done[-1].done_at.astimezone(wf.settings.zone):%Y-%m-%d %H:%M}" if done and done[-1].done_at else ""
        slip = wf.work_orders.slip_html(order_id, callback_at=callback_at)
        return HTMLResponse(mask_text(slip) if must_mask(who) else slip)


# ----- callbacks --------------------------------------------------------------------------

@router.get("/callbacks", response_model=list[CallbackTaskOut])
def list_callbacks(status: Literal[(*TASK_STATUSES, "all")] = "open",  # type: ignore[valid-type]
                   kind: Literal[tuple(TASK_KINDS)] | None = None,  # type: ignore[valid-type]
                   limit: int = Query(200, ge=1, le=1000),
                   who: Principal = Depends(current_principal), *, wf: Workflow,
                   estates: EstateFilter) -> list[CallbackTaskOut]:
    wf = available(wf, NO_WORKFLOW)
    rows = wf.callbacks.list(status=None if status == "all" else status, kind=kind, limit=limit,
                             estate_ids=estates)
    return [_task_out(wf, t, who) for t in rows]


@router.post("/callbacks/{task_id}/log", response_model=CallbackTaskOut, responses=refusals(403, 404, 409))
def log_callback(task_id: RowId, body: CallbackLogIn,
                 who: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> CallbackTaskOut:
    """A callback made by hand (or the result of one placed through the agent)."""
    wf = available(wf, NO_WORKFLOW)
    with _refusals("回访任务"):
        row = wf.callbacks.log_result(task_id, body.outcome, who.username, satisfaction=body.satisfaction,
                                      notes=body.notes, based_on=body.version)
    wf.drain()
    return _task_out(wf, row, who)


@router.post("/callbacks/{task_id}/cancel", response_model=CallbackTaskOut, responses=refusals(403, 404))
def cancel_callback(task_id: RowId, body: CancelIn,
                    who: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> CallbackTaskOut:
    wf = available(wf, NO_WORKFLOW)
    with _refusals("回访任务"):
        row = wf.callbacks.cancel(task_id, who.username, body.reason)
    wf.drain()
    return _task_out(wf, row, who)


@router.post("/callbacks/{task_id}/dial", status_code=202, responses=refusals(403, 404))
def dial_callback(task_id: RowId, body: DialIn,
                  who: Principal = Depends(require("edit_entries")), *, wf: Workflow, dialer: Dialer) -> dict[str, Any]:
    """Place the call through the agent: it rings the clerk's extension first, then the
    resident, and records both sides on the entry. The result arrives as a callback.updated event."""
    wf, dialer = available(wf, NO_WORKFLOW), available(dialer, NO_DIALER)
    with _refusals("回访任务"):
        task = wf.callbacks.get(task_id)
        if task.status != "open":
            raise LedgerError(f"回访任务 {task_id} 已结束 / task {task_id} is {task.status}")
        if not task.number:
            raise LedgerError("没有可回拨的号码 / the task has no number to call")
        dialer.place(task_id, body.extension, who.username, who.user_id)
    return {"task_id": task_id, "status": "dialing"}


# ----- notifications and handover ---------------------------------------------------------

@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(all: bool = False,
                       who: Principal = Depends(current_principal), *, wf: Workflow,
                       estates: EstateFilter) -> list[Notification]:
    wf = available(wf, NO_WORKFLOW)
    with only_estates(estates):  # notices about another estate's entries are not the reader's
        return wf.notices.for_role(who.role, unacknowledged_only=not all)


@router.post("/notifications/{notification_id}/acknowledge", response_model=NotificationOut,
             responses=refusals(403, 404))
def acknowledge_notification(notification_id: RowId,
                             who: Principal = Depends(require("edit_entries")), *, wf: Workflow,
                             estates: EstateFilter) -> Notification:
    wf = available(wf, NO_WORKFLOW)
    with only_estates(estates):
        visible = {n.id for n in wf.notices.for_role(who.role, unacknowledged_only=False, limit=10_000)}
    if notification_id not in visible:
        raise HTTPException(404, "没有这条通知 / no such notification")
    return wf.notices.acknowledge(notification_id, who.username)


@router.get("/handovers/latest", response_model=HandoverOut | None, responses=refusals(403))
def latest_handover(_: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> Handover | None:
    wf = available(wf, NO_WORKFLOW)
    return wf.handovers.latest()


@router.post("/handovers/{handover_id}/acknowledge", response_model=HandoverOut, responses=refusals(403, 404))
def acknowledge_handover(handover_id: RowId, body: AckIn,
                         who: Principal = Depends(require("edit_entries")), *, wf: Workflow) -> Handover:
    wf = available(wf, NO_WORKFLOW)
    with _refusals("交接记录"):
        return wf.handovers.acknowledge(handover_id, who.username, body.note)
