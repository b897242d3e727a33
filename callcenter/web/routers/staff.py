"""Extensions and presence (在岗/离开/通话中) of the panel's users, 「接听」 on a live call (the agent
rings the clerk's own extension and bridges the caller to it) and 「监听」 (a supervisor's phone
hears the call silently); calls/desk.py does the dialling."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from callcenter.accounts import Principal
from callcenter.ledger.service import NotFound
from callcenter.staffing.lines import Line, StaffLineError
from callcenter.staffing.settings import NUMBER_PATTERN
from callcenter.web.deps import NO_STAFF, NO_TAKEOVER, Ledger, Staff, TakeOvers, available
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
                             who: Principal) -> tuple[str, str]:
    """The live call's SIP id and the extension to ring (the one given, else the user's own)."""
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
    return call.sip_call_id, extension


@router.post("/calls/{call_id}/take", status_code=202, responses=refusals(400, 403, 404, 409, 503))
def take_call(call_id: RowId, body: TakeIn, ledger: Ledger, staff: Staff, takeover: TakeOvers,
              who: Principal = Depends(require("edit_entries"))) -> dict[str, object]:
    """「接听」: the agent rings the clerk's extension and bridges the caller to it; the script stops
    and the recording goes on. The outcome arrives as call.person events."""
    desk = available(takeover, NO_TAKEOVER)
    sip_call_id, extension = _live_call_and_extension(call_id, body, ledger, staff, who)
    if not desk.request_takeover(sip_call_id, extension):
        raise HTTPException(409, "该通话不在本机或已结束 / the call is not live in this process")
    return {"call_id": call_id, "extension": extension, "status": "ringing"}


LISTENERS = ("supervisor", "admin")  # who may listen in on a live call (监听)


@router.post("/calls/{call_id}/listen", status_code=202, responses=refusals(400, 403, 404, 409, 503))
def listen_to_call(call_id: RowId, body: TakeIn, ledger: Ledger, staff: Staff, takeover: TakeOvers,
                   who: Principal = Depends(current_principal)) -> dict[str, object]:
    """监听: the agent rings the supervisor's extension, which hears the caller and the agent (or the
    clerk) silently; the caller hears nothing of it. Supervisors and administrators only."""
    if who.role not in LISTENERS:
        raise HTTPException(403, "只有主管可以监听 / only supervisors may listen in")
    desk = available(takeover, NO_TAKEOVER)
    sip_call_id, extension = _live_call_and_extension(call_id, body, ledger, staff, who)
    if not desk.request_listen(sip_call_id, extension, who.username):
        raise HTTPException(409, "该通话不在本机或已结束 / the call is not live in this process")
    return {"call_id": call_id, "extension": extension, "status": "ringing"}
