"""Work orders (派工单 / 维修调度单, and 工程维修单 for paid and public-area repairs).

A work order sends an entry's work to one department; several may hang off one entry.
Their progress drives the entry: the first order dispatches it, a department accepting
puts it in progress, and when every order is finished the entry is completed (which starts
the callback clock). Every change is audited on the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import col, select

from callcenter.clock import Clock
from callcenter.drafting.terms import UnknownTerm
from callcenter.events import WorkOrderUpdated
from callcenter.ledger.lifecycle import COMPLETED, DISPATCHED, IN_PROGRESS, REGISTERED
from callcenter.ledger.lifecycle import label as entry_label
from callcenter.ledger.models import Entry, WorkOrder
from callcenter.ledger.service import LedgerError, LedgerService, NotFound
from callcenter.ledger.versions import claim
from callcenter.workflow.settings import WorkflowSettings

KINDS = {"dispatch": "维修调度单", "engineering": "工程维修单"}
LABELS = {"open": "待接单", "accepted": "已接单", "in_progress": "处理中", "done": "已完成", "cancelled": "已取消"}
STATUSES = tuple(LABELS)
MOVES = {"open": ("accepted", "in_progress", "done", "cancelled"), "accepted": ("in_progress", "done", "cancelled"),
         "in_progress": ("done", "cancelled"), "done": (), "cancelled": ()}
# The moves as the buttons that make them read (接单, 完成...).
MOVE_LABELS = {"accepted": "接单", "in_progress": "处理中", "done": "完成", "cancelled": "取消"}
EDITABLE = ("assignee", "description", "location", "paid", "fee", "result")
FIELD_LABELS = {"status": "状态", "assignee": "维修人员", "description": "派工内容", "location": "地点",
                "paid": "有偿服务", "fee": "费用", "result": "处理结果"}
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class NewWorkOrder:
    kind: str = "dispatch"
    department: str = ""  # empty: the entry's department
    description: str = ""  # empty: the entry's summary
    location: str = ""  # empty: the entry's unit
    paid: bool = False
    fee: str = ""
    assignee: str = ""


class WorkOrders:
    def __init__(self, ledger: LedgerService, clock: Clock, settings: WorkflowSettings) -> None:
        self.ledger, self.clock, self.settings = ledger, clock, settings

    def create(self, entry_id: int, order: NewWorkOrder, actor: str) -> WorkOrder:
        if order.kind not in KINDS:
            raise LedgerError(f"kind must be one of {', '.join(KINDS)}")
        entry = self.ledger.get_entry(entry_id)
        if entry.status not in (REGISTERED, DISPATCHED, IN_PROGRESS):
            raise LedgerError(f"台账 {entry_id} 为{entry_label(entry.status)}，不能派工 / "
                              f"entry {entry_id} is {entry.status}: only registered or open work can be dispatched")
        department = order.department or entry.department
        try:
            self.ledger.terms.check_department(department)
        except UnknownTerm as exc:
            raise LedgerError(str(exc)) from exc
        now = self.clock.now()
        row = WorkOrder(entry_id=entry_id, kind=order.kind, department=department,
                        location=order.location or entry.unit, description=order.description or entry.summary,
                        paid=order.paid, fee=order.fee, assignee=order.assignee, created_by=actor,
                        created_at=now, updated_at=now)
        with self.ledger.session() as s:
            s.add(row)
            s.commit()
            s.refresh(row)
        self.ledger.audit(actor, entry_id, "work_order", "created", "", f"{KINDS[row.kind]} {self.number(row)}")
        if entry.status == REGISTERED:
            if not entry.department:
                self.ledger.update_entry(entry_id, {"department": department}, actor)
            self.ledger.transition(entry_id, "dispatched", actor, note=f"派工 {self.number(row)}")
        self._published(row, actor)
        return row

    def update(self, order_id: int, changes: dict[str, Any], actor: str, based_on: int | None = None) -> WorkOrder:
        """`based_on`: the order's version the clerk saw; a newer one refuses (versions.StaleWrite)."""
        unknown = set(changes) - {*EDITABLE, "status"}
        if unknown:
            raise LedgerError(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
        now = self.clock.now()
        with self.ledger.session() as s:
            row = s.get(WorkOrder, order_id)
            if row is None:
                raise NotFound(f"work order {order_id}")
            claim(s, row, based_on)
            new_status = changes.get("status", row.status)
            if new_status != row.status and new_status not in MOVES.get(row.status, ()):
                raise LedgerError(f"派工单 {self.number(row)}：不能从{LABELS.get(row.status)}转为"
                                  f"{LABELS.get(new_status, new_status)} / cannot move from {row.status} "
                                  f"to {new_status}; may move to: {', '.join(MOVES[row.status]) or 'nothing'}")
            audit: list[tuple[str, str, str]] = []
            for name, value in changes.items():
                old = getattr(row, name)
                if old != value:
                    setattr(row, name, value)
                    audit.append((name, str(old), str(value)))
            if new_status == "accepted" and row.accepted_at is None:
                row.accepted_at = now
            if new_status == "done":
                row.completed_at = now
            row.updated_at = now
            s.add(row)
            s.commit()
            s.refresh(row)
        for name, old, new in audit:
            self.ledger.audit(actor, row.entry_id, "work_order", f"{self.number(row)}.{name}", old, new)
        if "status" in changes:
            self._drive_entry(row.entry_id, new_status, actor)
        self._published(row, actor)
        return row

    def _drive_entry(self, entry_id: int, order_status: str, actor: str) -> None:
        """The entry follows its work orders (see the module docstring)."""
        entry = self.ledger.get_entry(entry_id)
        if order_status in ("accepted", "in_progress") and entry.status == "dispatched":
            self.ledger.transition(entry_id, "in_progress", actor)
        elif order_status in ("done", "cancelled") and entry.status in ("dispatched", "in_progress"):
            orders = self.of_entry(entry_id)
            unfinished = [o for o in orders if o.status not in ("done", "cancelled")]
            if not unfinished and any(o.status == "done" for o in orders):
                self.ledger.transition(entry_id, COMPLETED, actor, note="派工单全部完成")

    def of_entry(self, entry_id: int) -> list[WorkOrder]:
        with self.ledger.session() as s:
            return list(s.exec(select(WorkOrder).where(WorkOrder.entry_id == entry_id)
                               .order_by(col(WorkOrder.id))).all())

    def get(self, order_id: int) -> WorkOrder:
        with self.ledger.session() as s:
            row = s.get(WorkOrder, order_id)
            if row is None:
                raise NotFound(f"work order {order_id}")
            return row

    def list(self, *, department: str | None = None, status: str | None = None, limit: int = 100,
             estate_ids: frozenset[int] | None = None) -> list[WorkOrder]:
        """`estate_ids`: only orders of entries in these estates (None: all), filtered before the
        limit so a clerk's page is full."""
        with self.ledger.session() as s:
            q = select(WorkOrder)
            if estate_ids is not None:
                q = q.join(Entry, col(Entry.id) == col(WorkOrder.entry_id)).where(col(Entry.estate_id).in_(estate_ids))
            if department:
                q = q.where(WorkOrder.department == department)
            if status:
                q = q.where(WorkOrder.status == status)
            return list(s.exec(q.order_by(col(WorkOrder.id).desc()).limit(limit)).all())

    def number(self, row: WorkOrder) -> str:
        """The slip number staff read out: PG (派工) + local date + id."""
        local = row.created_at.astimezone(self.settings.zone)
        return f"PG{local:%Y%m%d}-{row.id:05d}"

    def slip_html(self, order_id: int, callback_at: str = "") -> str:
        """A print-ready slip (A5/A4, Chinese) with the ledger's fields, so slip and ledger agree."""
        row = self.get(order_id)
        entry: Entry = self.ledger.get_entry(row.entry_id)
        zone = self.settings.zone
        return _TEMPLATES.get_template("work_order.html").render(
            order=row, entry=entry, number=self.number(row), kind_label=KINDS[row.kind],
            status_label=LABELS[row.status], created=f"{row.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
            completed=f"{row.completed_at.astimezone(zone):%Y-%m-%d %H:%M}" if row.completed_at else "",
            entry_created=f"{entry.created_at.astimezone(zone):%Y-%m-%d %H:%M}", callback_at=callback_at)

    def _published(self, row: WorkOrder, actor: str) -> None:
        self.ledger.bus.publish(WorkOrderUpdated(id=row.id, entry_id=row.entry_id, status=row.status,
                                                 department=row.department, actor=actor))
