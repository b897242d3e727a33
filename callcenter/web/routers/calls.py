from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse

from callcenter.accounts import Principal
from callcenter.ledger.service import LedgerError, NotFound
from callcenter.web.masking import must_mask
from callcenter.web.schemas import CallOut, EntryOut, LinkIn
from callcenter.web.security import current_principal, require

router = APIRouter(prefix="/api/calls", tags=["calls"])


@router.get("", response_model=list[CallOut])
def list_calls(request: Request, status: str | None = None, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0), who: Principal = Depends(current_principal)) -> list[CallOut]:
    calls = request.app.state.ledger.list_calls(status=status, limit=limit, offset=offset)
    return [CallOut.of(c, mask=must_mask(who)) for c in calls]


@router.get("/{call_id}", response_model=CallOut)
def get_call(call_id: int, request: Request, who: Principal = Depends(current_principal)) -> CallOut:
    try:
        return CallOut.of(request.app.state.ledger.get_call(call_id), words=True, mask=must_mask(who))
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话") from exc


@router.get("/{call_id}/recording", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}}}})
def get_recording(call_id: int, request: Request, _: Principal = Depends(current_principal)) -> FileResponse:
    """The call's recording, found by the call's id only; never by a path from the request."""
    try:
        call = request.app.state.ledger.get_call(call_id)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话") from exc
    if not call.recording_key:
        raise HTTPException(404, "该通话没有录音")
    path = request.app.state.recordings.path_of(call.recording_key)
    return FileResponse(path, media_type="audio/wav", filename=f"call-{call.id}.wav",
                        headers={"X-Content-SHA256": call.recording_sha256, "Cache-Control": "private"})


@router.post("/{call_id}/link", response_model=EntryOut)
def link_call(call_id: int, body: LinkIn, request: Request,
              who: Principal = Depends(require("edit_entries"))) -> EntryOut:
    """The screen pop's one click: this call is about open entry `entry_id` (a repeat call).
    The call's own draft entry is merged into it; audited; an entry.updated event follows."""
    ledger = request.app.state.ledger
    try:
        entry = ledger.link_call(call_id, body.entry_id, who.username)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话或台账") from exc
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from exc
    return EntryOut.of(entry, ledger.calls_of_entry(entry.id), mask=must_mask(who))
