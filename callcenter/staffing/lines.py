"""Users' extensions and presence (在岗/离开/通话中), kept in the database so that every agent
process rings the same people. The panel sets them; the ring group reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.ledger.models import StaffLine, User
from callcenter.staffing.settings import NUMBER_PATTERN

ON_DUTY, AWAY, ON_CALL = "on_duty", "away", "on_call"
PRESENCE: Mapping[str, str] = {ON_DUTY: "在岗", AWAY: "离开", ON_CALL: "通话中"}


class StaffLineError(ValueError):
    """A bad extension or presence; the message is shown to the user as it is."""


@dataclass(frozen=True)
class Line:
    user_id: int
    username: str
    display_name: str
    role: str
    extension: str
    presence: str
    updated_at: datetime | None


class StaffLines:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def lines(self) -> list[Line]:
        with Session(self.engine) as s:
            rows = s.exec(select(User, StaffLine).join(StaffLine, col(StaffLine.user_id) == col(User.id),
                                                       isouter=True)
                          .where(col(User.active)).order_by(col(User.id))).all()
        return [_line(u, sl) for u, sl in rows]

    def line(self, user_id: int) -> Line:
        with Session(self.engine) as s:
            user = s.get(User, user_id)
            if user is None:
                raise StaffLineError("用户不存在")
            return _line(user, s.get(StaffLine, user_id))

    def set_line(self, user_id: int, *, extension: str | None = None, presence: str | None = None) -> Line:
        if extension is not None:
            extension = extension.strip()
            if extension and not re.match(NUMBER_PATTERN, extension):
                raise StaffLineError("分机号只能包含数字、字母和 + * # . _ -，最长32位")
        if presence is not None and presence not in PRESENCE:
            raise StaffLineError(f"状态必须是：{'、'.join(PRESENCE.values())}")
        with Session(self.engine) as s:
            if s.get(User, user_id) is None:
                raise StaffLineError("用户不存在")
            if extension:
                taken = s.exec(select(StaffLine).where(StaffLine.extension == extension,
                                                       StaffLine.user_id != user_id)).first()
                if taken is not None:
                    raise StaffLineError(f"分机号 {extension} 已分配给其他用户")
            row = s.get(StaffLine, user_id) or StaffLine(user_id=user_id, updated_at=self.clock.now())
            if extension is not None:
                row.extension = extension
            if presence is not None:
                row.presence = presence
            if row.presence == ON_DUTY and not row.extension:
                raise StaffLineError("请先设置分机号，再设为在岗")
            row.updated_at = self.clock.now()
            s.add(row)
            s.commit()
        return self.line(user_id)

    def on_duty_extensions(self) -> list[str]:
        """Extensions of active users marked 在岗, longest on duty first (fair for in-turn ringing)."""
        with Session(self.engine) as s:
            rows = s.exec(select(StaffLine.extension).join(User, col(User.id) == col(StaffLine.user_id))
                          .where(StaffLine.presence == ON_DUTY, StaffLine.extension != "", col(User.active))
                          .order_by(col(StaffLine.updated_at))).all()
        return list(rows)

    def user_of_extension(self, extension: str) -> Line | None:
        with Session(self.engine) as s:
            row = s.exec(select(StaffLine).where(StaffLine.extension == extension)).first()
            if row is None:
                return None
            user = s.get(User, row.user_id)
            return _line(user, row) if user is not None else None

    def release_on_call(self) -> int:
        """After a crash: whoever was 通话中 is 在岗 again (no call can still be bridged)."""
        with Session(self.engine) as s:
            rows = list(s.exec(select(StaffLine).where(StaffLine.presence == ON_CALL)).all())
            for row in rows:
                row.presence, row.updated_at = ON_DUTY, self.clock.now()
                s.add(row)
            s.commit()
        return len(rows)

    def mark(self, extension: str, presence: str) -> None:
        """通话中 while bridged, back to 在岗 after: a clerk on a call is not rung again."""
        with Session(self.engine) as s:
            row = s.exec(select(StaffLine).where(StaffLine.extension == extension)).first()
            if row is not None:
                row.presence, row.updated_at = presence, self.clock.now()
                s.add(row)
                s.commit()


def _line(user: User, row: StaffLine | None) -> Line:
    assert user.id is not None
    return Line(user.id, user.username, user.display_name, user.role, row.extension if row else "",
                row.presence if row else AWAY, row.updated_at if row else None)
