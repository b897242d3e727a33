"""Extensions and presence (在岗/离开/通话中) of the panel's users, 「接听」 on a live call (the agent
rings the clerk's own extension and bridges the caller to it) and 「监听」 (a supervisor's phone
hears the call silently); calls/desk.py does the dialling, in this process or, for a call of an
agent process, in that agent (the command goes through PostgreSQL: scale/commands.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from callcenter.accounts import Principal
from callcenter.ledger.models import Call
from callcenter.ledger.service import NotFound
from callcenter.scale.commands import AgentGone
from callcenter.staffing.lines import Line, StaffLineError
from callcenter.staffing.settings import NUMBER_PATTERN
from callcenter.web.deps import (
    NO_STAFF,
    NO_TAKEOVER,
    AgentCommands,
    Commands,
    Ledger,
    Staff,
    TakeOver,
    TakeOvers,
    available,
)
from callcenter.web.schemas import RowId, refusals
from callcenter.web.security import current_principal, require

router = APIRouter(prefix="/api", tags=["staff"], responses=refusals(401, 422))


class LineOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: str
    extension: str
    presence: str

    @classmethod
    def of(cls, line: Line) -> LineOut:
        return cls(user_id=line.user_id, username=line.username, display_name=line.display_name,
                   role=line.role, extension=line.extension, presence=line.presence)


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extension: str | None = Field(None, max_length=32)
    presence: str | None = Field(None, max_length=16)


class TakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extension: str | None = Field(None, pattern=NUMBER_PATTERN)  # default: the user's own extension


def _set(staff: Staff, user_id: int, body: LineIn) -> LineOut:
    lines = available(staff, NO_STAFF)
    try:
        return LineOut.of(lines.set_line(user_id, extension=body.extension, presence=body.presence))
    except StaffLineError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/staff/lines", response_model=list[LineOut], responses=refusals(503))
def list_lines(staff: Staff, _: Principal = Depends(current_principal)) -> list[LineOut]:
    """Who is on duty at which extension (the ring group rings those 在岗)."""
    return [LineOut.of(line) for line in available(staff, NO_STAFF).lines()]


@router.get("/staff/me", response_model=LineOut, responses=refusals(404, 503))
def my_line(staff: Staff, who: Principal = Depends(current_principal)) -> LineOut:
    if who.user_id is None:
        raise HTTPException(404, "此身份没有分机 / no user behind this token")
    return LineOut.of(available(staff, NO_STAFF).line(who.user_id))


@router.put("/staff/me", response_model=LineOut, responses=refusals(400, 403, 404, 503))
def set_my_line(body: LineIn, staff: Staff, who: Principal = Depends(require("edit_entries"))) -> LineOut:
    """A clerk sets their own extension and state (在岗/离开)."""
    if who.user_id is None:
        raise HTTPException(404, "此身份没有分机 / no user behind this token")
    return _set(staff, who.user_id, body)


@router.put("/staff/lines/{user_id}", response_model=LineOut, responses=refusals(400, 403, 503))
def set_line(user_id: RowId, body: LineIn, staff: Staff, _: Principal = Depends(require("admin"))) -> LineOut:
    """An administrator assigns extensions."""
    return _set(staff, user_id, body)


def _live_call_and_extension(call_id: int, body: TakeIn, ledger: Ledger, staff: Staff,
                             who: Principal) -> tuple[Call, str]:
    """The live call and the extension to ring (the one given, else the user's own)."""
    try:
        call = ledger.get_call(call_id)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话 / no such call") from exc
    if call.status != "answered":
        raise HTTPException(409, "通话不在进行中 / the call is not in progress")
    extension = body.extension
    if not extension and staff is not None and who.user_id is not None:
        extension = staff.line(who.user_id).extension
    if not extension:
        raise HTTPException(400, "请先在“我的分机”中设置分机号 / set your extension first")
    return call, extension


ACTIONS = {"take": "接听", "listen": "监听"}


def _ring(kind: str, call: Call, extension: str, who: Principal, takeover: TakeOver | None,
          commands: AgentCommands | None) -> dict[str, object]:
    """Ring `extension` for the call: on this process's desk when the call is this process's (no
    agent id: an all-in-one process), else through the database to the agent that owns it
    (scale/commands.py). The outcome arrives as call.person events either way."""
    action = ACTIONS[kind]
    if takeover is not None and (call.agent_id is None or commands is None):
        asked = takeover.request_takeover(call.sip_call_id, extension) if kind == "take" else \
            takeover.request_listen(call.sip_call_id, extension, who.username)
        if not asked:
            raise HTTPException(409, "该通话不在本机或已结束 / the call is not live in this process")
    elif commands is not None:
        if not call.agent_id:
            raise HTTPException(409, f"该通话不属于任何在运行的坐席进程，无法{action} / no agent carries this call")
        try:
            commands.send(call.agent_id, kind, call.sip_call_id, extension, who.username)
        except AgentGone as exc:
            raise HTTPException(409, f"接听该通话的坐席进程已停止，无法{action}；通话将按中断处理 / "
                                     f"the agent that carried the call is gone") from exc
    else:
        raise HTTPException(503, NO_TAKEOVER)
    return {"call_id": call.id, "extension": extension, "status": "ringing"}


@router.post("/calls/{call_id}/take", status_code=202, responses=refusals(400, 403, 404, 409, 503))
def take_call(call_id: RowId, body: TakeIn, ledger: Ledger, staff: Staff, takeover: TakeOvers, commands: Commands,
              who: Principal = Depends(require("edit_entries"))) -> dict[str, object]:
    """「接听」: the agent rings the clerk's extension and bridges the caller to it; the script stops
    and the recording goes on. The outcome arrives as call.person events."""
    if takeover is None and commands is None:
        raise HTTPException(503, NO_TAKEOVER)
    call, extension = _live_call_and_extension(call_id, body, ledger, staff, who)
    return _ring("take", call, extension, who, takeover, commands)


LISTENERS = ("supervisor", "admin")  # who may listen in on a live call (监听)


@router.post("/calls/{call_id}/listen", status_code=202, responses=refusals(400, 403, 404, 409, 503))
def listen_to_call(call_id: RowId, body: TakeIn, ledger: Ledger, staff: Staff, takeover: TakeOvers,
                   commands: Commands, who: Principal = Depends(current_principal)) -> dict[str, object]:
    """监听: the agent rings the supervisor's extension, which hears the caller and the agent (or the
    clerk) silently; the caller hears nothing of it. Supervisors and administrators only."""
    if who.role not in LISTENERS:
        raise HTTPException(403, "只有主管可以监听 / only supervisors may listen in")
    if takeover is None and commands is None:
        raise HTTPException(503, NO_TAKEOVER)
    call, extension = _live_call_and_extension(call_id, body, ledger, staff, who)
    return _ring("listen", call, extension, who, takeover, commands)
