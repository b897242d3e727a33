"""Telling on-duty staff: a notice is stored (the panel shows it until acknowledged), pushed
to every open panel, and handed to the outside notifiers (group-chat robots).

The panel is the notifier that cannot fail silently: the row is written first, in the
caller's transaction-free path, and only then are the webhooks tried (in the background).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.events import EventBus, NoticeAcknowledged, NoticePosted
from callcenter.ledger.models import Entry, Notification
from callcenter.notify.message import SEVERITIES, Notice

log = logging.getLogger(__name__)

# Which roles see which audience in the panel: a supervisor also sees what went to clerks.
ROLE_AUDIENCES = {"clerk": ("clerk",), "qa": (), "supervisor": ("clerk", "supervisor", "project_head"),
                  "admin": ("clerk", "supervisor", "project_head")}


class Publisher(Protocol):
    def publish(self, notice: Notice) -> None: ...


class NoticeBoard:
    def __init__(self, engine: Engine, clock: Clock, bus: EventBus, outside: Publisher | None = None) -> None:
        self.engine, self.clock, self.bus, self.outside = engine, clock, bus, outside

    def post(self, kind: str, title: str, body: str = "", *, severity: str = "info",
             audience: Sequence[str] = ("clerk",), entry_id: int | None = None) -> int:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        link = f"/#entry/{entry_id}" if entry_id else ""
        row = Notification(at=self.clock.now(), kind=kind, severity=severity, audience=",".join(audience),
                           title=title[:128], body=body, entry_id=entry_id, link=link)
        with Session(self.engine) as s:
            s.add(row)
            s.commit()
            s.refresh(row)
        assert row.id is not None
        self.bus.publish(NoticePosted(id=row.id, kind=kind, severity=severity, title=row.title, body=body,
                                      entry_id=entry_id, audience=list(audience)))
        if self.outside is not None:
            self.outside.publish(Notice(kind=kind, severity=severity, title=row.title,  # type: ignore[arg-type]
                                        body=body, entry_id=entry_id, audience=tuple(audience), link=link,
                                        estate_id=self._estate_of(entry_id)))
        log.info("notice %s (%s) to %s: %s", kind, severity, ",".join(audience), row.title)
        return row.id

    def _estate_of(self, entry_id: int | None) -> int | None:
        """The entry's estate, so that each estate's robots hear of its own entries."""
        if entry_id is None:
            return None
        with Session(self.engine) as s:
            entry = s.get(Entry, entry_id)
            return entry.estate_id if entry is not None else None

    def posted(self, kind: str, entry_id: int) -> bool:
        """Whether a notice of this kind about this entry was already given."""
        with Session(self.engine) as s:
            return s.exec(select(Notification.id).where(Notification.kind == kind,
                                                        Notification.entry_id == entry_id).limit(1)).first() is not None

    def for_role(self, role: str, *, unacknowledged_only: bool = True, limit: int = 100) -> list[Notification]:
        audiences = ROLE_AUDIENCES.get(role, ())
        if not audiences:
            return []
        with Session(self.engine) as s:
            # audience is a short comma list: match each role as a whole item
            matches = [or_(col(Notification.audience) == a, col(Notification.audience).startswith(f"{a},"),
                           col(Notification.audience).endswith(f",{a}"),
                           col(Notification.audience).contains(f",{a},")) for a in audiences]
            q = select(Notification).where(or_(*matches))
            if unacknowledged_only:
                q = q.where(col(Notification.acknowledged_at).is_(None))
            q = q.order_by(col(Notification.id).desc()).limit(limit)
            return list(s.exec(q).all())

    def acknowledge(self, notification_id: int, actor: str) -> Notification:
        with Session(self.engine) as s:
            row = s.get(Notification, notification_id)
            if row is None:
                raise LookupError(f"notification {notification_id}")
            if row.acknowledged_at is None:
                row.acknowledged_at, row.acknowledged_by = self.clock.now(), actor
                s.add(row)
                s.commit()
                s.refresh(row)
        self.bus.publish(NoticeAcknowledged(id=notification_id, acknowledged_by=actor))
        return row
