from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse

from callcenter.accounts import Principal
from callcenter.ledger.service import NotFound
from callcenter.web.schemas import CallOut
from callcenter.web.security import current_principal

router = APIRouter(prefix="/api/calls", tags=["calls"])


@router.get("", response_model=list[CallOut])
def list_calls(request: Request, status: str | None = None, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0), _: Principal = Depends(current_principal)) -> list[CallOut]:
    return [CallOut.of(c) for c in request.app.state.ledger.list_calls(status=status, limit=limit, offset=offset)]


@router.get("/{call_id}", response_model=CallOut)
def get_call(call_id: int, request: Request, _: Principal = Depends(current_principal)) -> CallOut:
    try:
        return CallOut.of(request.app.state.ledger.get_call(call_id), words=True)
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
