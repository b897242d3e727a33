from __future__ import annotations

import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse

from callcenter.accounts import Principal
from callcenter.ledger.service import LedgerError, NotFound
from callcenter.web.deps import Ledger, Recordings
from callcenter.web.estate_scope import EstateFilter
from callcenter.web.export import DISPLAY_TIMEZONE
from callcenter.web.masking import must_mask
from callcenter.web.schemas import CallOut, EntryOut, LinkIn, Offset, RowId, refusals
from callcenter.web.security import current_principal, require

router = APIRouter(prefix="/api/calls", tags=["calls"], responses=refusals(401, 422))
log = logging.getLogger(__name__)


@router.get("", response_model=list[CallOut])
def list_calls(ledger: Ledger, status: str | None = Query(None, max_length=32),
               limit: int = Query(50, ge=1, le=500), offset: Offset = 0,
               who: Principal = Depends(current_principal), *, estates: EstateFilter) -> list[CallOut]:
    calls = ledger.list_calls(status=status, limit=limit, offset=offset, estate_ids=estates)
    return [CallOut.of(c, mask=must_mask(who)) for c in calls]


@router.get("/{call_id}", response_model=CallOut, responses=refusals(404))
def get_call(call_id: RowId, ledger: Ledger, who: Principal = Depends(current_principal)) -> CallOut:
    try:
        return CallOut.of(ledger.get_call(call_id), words=True, mask=must_mask(who))
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话 / no such call") from exc


@router.get("/{call_id}/recording", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}}, "description": "双声道 WAV（来电人/客服）"},
                       **refusals(404, 410, 503)})
def get_recording(call_id: RowId, ledger: Ledger, recordings: Recordings,
                  _: Principal = Depends(current_principal)) -> FileResponse:
    """The call's recording, found by the call's id only; never by a path from the request.
    410 once the retention policy has deleted it (the call and its transcript stay)."""
    try:
        call = ledger.get_call(call_id)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话 / no such call") from exc
    if not call.recording_key:
        raise HTTPException(404, "该通话没有录音 / this call has no recording")
    if call.recording_deleted_at is not None:
        day = call.recording_deleted_at.astimezone(ZoneInfo(DISPLAY_TIMEZONE))
        raise HTTPException(410, f"该录音已于 {day:%Y-%m-%d} 按保留期限删除 / "
                                 f"the recording was deleted on {day:%Y-%m-%d} under the retention policy")
    try:
        path = Path(recordings.path_of(call.recording_key))
    except ValueError as exc:  # a row whose key is not a store key: never serve it
        log.error("call %s: bad recording key: %s", call.id, exc)
        raise HTTPException(404, "录音文件缺失 / the recording file is missing") from exc
    except OSError as exc:  # the recording storage (remote backend) cannot be reached just now
        log.error("call %s: recording storage unreachable: %s", call.id, exc)
        raise HTTPException(503, "录音存储暂时无法访问，请稍后再试 / the recording storage cannot be reached") from exc
    if not path.is_file():  # lost outside the retention policy: say so instead of failing mid-response
        log.error("call %s: recording file %s is missing", call.id, path)
        raise HTTPException(404, "录音文件缺失 / the recording file is missing")
    return FileResponse(path, media_type="audio/wav", filename=f"call-{call.id}.wav",
                        headers={"X-Content-SHA256": call.recording_sha256, "Cache-Control": "private"})


@router.post("/{call_id}/link", response_model=EntryOut, responses=refusals(403, 404, 409))
def link_call(call_id: RowId, body: LinkIn, ledger: Ledger,
              who: Principal = Depends(require("edit_entries"))) -> EntryOut:
    """The screen pop's one click: this call is about open entry `entry_id` (a repeat call).
    The call's own draft entry is merged into it; audited; an entry.updated event follows."""
    try:
        entry = ledger.link_call(call_id, body.entry_id, who.username)
    except NotFound as exc:
        raise HTTPException(404, "没有这个通话或台账") from exc
    except LedgerError as exc:
        raise HTTPException(409, str(exc)) from exc
    assert entry.id is not None
    return EntryOut.of(entry, ledger.calls_of_entry(entry.id), mask=must_mask(who))
