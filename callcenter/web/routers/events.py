from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from callcenter.events import Event
from callcenter.web.deps import Bus
from callcenter.web.estate_scope import event_visibility
from callcenter.web.masking import mask_id_numbers, mask_phone, must_mask
from callcenter.web.security import websocket_principal

router = APIRouter(tags=["events"])


@router.websocket("/api/events")
async def events(ws: WebSocket, bus: Bus) -> None:
    """Live events (call.ringing, call.answered, call.partial_transcript, call.ended,
    entry.draft_ready, ...) as JSON. Authenticate with the session cookie or `?token=`."""
    principal = websocket_principal(ws)
    if principal is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    mask = must_mask(principal)
    estates = event_visibility(ws, principal)  # a clerk hears only the estates assigned to them
    await ws.accept()
    queue = bus.subscribe()
    try:
        while True:
            event = await queue.get()
            if not await estates.visible(event):
                continue
            await ws.send_json(_masked(event) if mask else event.to_json())
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        pass
    finally:
        bus.unsubscribe(queue)


def _masked(event: Event) -> dict:
    out = event.to_json()
    data = dict(out["data"])
    if isinstance(data.get("caller_number"), str):
        data["caller_number"] = mask_phone(data["caller_number"])
    for key in ("text", "summary"):  # live partial transcripts, drafted summaries
        if isinstance(data.get(key), str):
            data[key] = mask_id_numbers(data[key])
    out["data"] = data
    return out
