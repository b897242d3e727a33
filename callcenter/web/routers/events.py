from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from callcenter.web.security import websocket_principal

router = APIRouter(tags=["events"])


@router.websocket("/api/events")
async def events(ws: WebSocket) -> None:
    """Live events (call.ringing, call.answered, call.partial_transcript, call.ended,
    entry.draft_ready, ...) as JSON. Authenticate with the session cookie or `?token=`."""
    if websocket_principal(ws) is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await ws.accept()
    bus = ws.app.state.bus
    queue = bus.subscribe()
    try:
        while True:
            event = await queue.get()
            await ws.send_json(event.to_json())
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        pass
    finally:
        bus.unsubscribe(queue)
