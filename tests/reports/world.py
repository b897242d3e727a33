"""A known little world for the statistics tests: 37 random entries (fixed seed) written as
rows, plus calls that go through the ledger service, and a plain-Python record of everything
so each figure can be recomputed without SQL."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from callcenter.clock import ManualClock
from callcenter.drafting.rules import packaged_terms
from callcenter.ledger.lifecycle import STATES as STATUSES
from callcenter.ledger.models import AuditLog, Correction, Entry, User
from callcenter.ledger.service import LedgerService

CATEGORIES, DEPARTMENTS = packaged_terms().categories, packaged_terms().departments

SH = ZoneInfo("Asia/Shanghai")
SUMMARIES = ("3号楼楼道灯不亮", "电梯困人", "楼上漏水到我家", "晚上装修噪音太吵", "垃圾没人清", "车位被占",
             "物业费怎么交", "空调外机滴水", "门禁卡坏了")
# (receive time local, seconds until answer, expected rings bucket, confirm delay after end or None)
ANSWERED = ((datetime(2026, 11, 2, 9, 0), 0.5, "1", 30), (datetime(2026, 11, 3, 10, 0), 5.0, "1", 60),
            (datetime(2026, 11, 4, 11, 0), 5.1, "2", 61), (datetime(2026, 11, 5, 12, 0), 9.9, "2", None),
            (datetime(2026, 11, 6, 13, 0), 15.0, "3", 10), (datetime(2026, 11, 7, 14, 0), 15.1, ">3", 5),
            (datetime(2026, 11, 30, 23, 50), 40.0, ">3", 20),  # 15:50 UTC on the 30th: still November
            (datetime(2026, 10, 12, 9, 0), 3.0, "1", 20))  # October: not in the November figures
MISSED = (datetime(2026, 11, 8, 8, 0), datetime(2026, 11, 9, 22, 0), datetime(2025, 11, 10, 8, 0))


@dataclass
class Rec:
    created_at: datetime
    kind: str
    category: str
    department: str
    status: str
    urgent: bool
    owner: str | None
    summary: str = ""
    merged: bool = False
    handled_after: timedelta | None = None  # complaints: status set to completed this much later


@dataclass
class CallRec:
    received_at: datetime
    answered_after: float | None  # seconds; None = missed
    bucket: str = ""
    confirm_delay: int | None = None


@dataclass
class World:
    entries: list[Rec] = field(default_factory=list)
    calls: list[CallRec] = field(default_factory=list)
    corrections: list[tuple[datetime, str, bool]] = field(default_factory=list)


def utc(local: datetime) -> datetime:
    return local.replace(tzinfo=SH).astimezone(UTC)


def build(engine: Engine, ledger: LedgerService, clock: ManualClock) -> World:
    rnd = random.Random(20261127)
    world = World()
    with Session(engine) as s:
        users = [User(username=n, role="clerk", created_at=utc(datetime(2025, 1, 1))) for n in ("wang", "li")]
        s.add_all(users)
        s.commit()
        uid = {u.username: u.id for u in users}
        months = ((2026, 11),) * 5 + ((2026, 10),) * 2 + ((2025, 11),)
        locals_ = [datetime(*rnd.choice(months), rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59))
                   for _ in range(33)]
        # timezone boundaries: 23:30 Beijing on Oct 31 is 15:30 UTC on Oct 31 -> October;
        # 00:10 on Nov 1 is 16:10 UTC on Oct 31 -> November; Nov 30 23:59 -> November; Dec 1 00:00 -> December.
        locals_ += [datetime(2026, 10, 31, 23, 30), datetime(2026, 11, 1, 0, 10), datetime(2026, 11, 30, 23, 59),
                    datetime(2026, 12, 1, 0, 0)]
        for i, local in enumerate(locals_):
            category = "投诉" if i % 3 == 0 else rnd.choice(CATEGORIES)
            status = rnd.choice(STATUSES)
            rec = Rec(utc(local), "manual", category, rnd.choice(DEPARTMENTS), status, rnd.random() < 0.3,
                      rnd.choice((None, "wang", "li")), rnd.choice(SUMMARIES), merged=status == "merged")
            if category == "投诉" and status in ("completed", "called_back", "closed"):
                rec.handled_after = timedelta(hours=rnd.choice((2, 23, 24, 25, 72)))
            entry = Entry(created_at=rec.created_at, updated_at=rec.created_at, kind="manual", source="walk_in",
                          status=status, category=category, department=rec.department, urgent=rec.urgent,
                          summary=rec.summary, owner_id=uid[rec.owner] if rec.owner else None)
            s.add(entry)
            s.flush()
            if rec.handled_after is not None:
                s.add(AuditLog(at=rec.created_at + rec.handled_after, actor="wang", entry_id=entry.id,
                               action="update", field="status", old="in_progress", new="completed"))
                s.add(AuditLog(at=rec.created_at + rec.handled_after + timedelta(hours=1), actor="wang",
                               entry_id=entry.id, action="update", field="status", old="completed",
                               new=status))
            for name in ("category", "department", "summary"):
                changed = rnd.random() < 0.4
                at = rec.created_at + timedelta(minutes=1)
                s.add(Correction(at=at, entry_id=entry.id, actor="wang", field=name, draft_value="a",
                                 confirmed_value="b" if changed else "a", changed=changed))
                world.corrections.append((at, name, changed))
            world.entries.append(rec)
        s.commit()

    def move_to(at: datetime) -> None:
        clock.advance(seconds=(at - clock.now()).total_seconds())

    for n, (local, wait, bucket, confirm) in enumerate(ANSWERED):
        move_to(utc(local))
        ledger.call_ringing(f"a{n}", "13800000000", "", "8000", clock.now())
        received = clock.now()
        clock.advance(seconds=wait)
        answered = ledger.call_answered(f"a{n}")
        rec = Rec(clock.now(), "call", "", "", "draft", False, None)
        clock.advance(seconds=90)
        ledger.call_ended(f"a{n}", "hangup", None)
        if confirm is not None:
            clock.advance(seconds=confirm)
            ledger.confirm_entry(answered.entry_id, {"category": "报修", "department": "工程"}, "li", uid["li"])
            rec.category, rec.department, rec.status, rec.owner = "报修", "工程", "registered", "li"
        world.entries.append(rec)
        world.calls.append(CallRec(received, wait, bucket, confirm))
    for n, local in enumerate(MISSED):
        move_to(utc(local))
        ledger.call_ringing(f"m{n}", "13900000000", "", "8000", clock.now())
        clock.advance(seconds=12)
        ledger.call_missed(f"m{n}", "cancelled")
        world.entries.append(Rec(clock.now(), "missed_call", "其他", "客服", "registered", False, None))
        world.calls.append(CallRec(utc(local), None))
    return world


def in_month(instant: datetime, year: int, month: int) -> bool:
    local = instant.astimezone(SH)
    return (local.year, local.month) == (year, month)
