from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from starlette.concurrency import run_in_threadpool

from callcenter.events import Event
from callcenter.web.deps import Bus
from callcenter.web.masking import mask_id_numbers, mask_phone, must_mask
from callcenter.web.security import websocket_principal

router = APIRouter(tags=["events"])


@router.websocket("/api/events")
async def events(ws: WebSocket, bus: Bus) -> None:
    """Live events (call.ringing, call.answered, call.partial_transcript, call.ended,
    entry.draft_ready, ...) as JSON, each stored one with its number `seq`. Authenticate with the
    session cookie or `?token=`; `?since=SEQ` first sends what was stored after SEQ (and a few
    before it: the panel drops what it has)."""
    principal = websocket_principal(ws)
    if principal is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    mask = must_mask(principal)
    await ws.accept()
    queue = bus.subscribe()
    sent: set[int] = set()
    try:
        # `?since=N`: the panel resumes after the last event it saw (numbered events: `seq`).
        since = ws.query_params.get("since", "")
        position = await run_in_threadpool(bus.position)
        if position is not None:  # where the stream stands: a panel that saw no event yet resumes from here
            await ws.send_json({"type": "stream.position", "data": {"seq": position}})
        if since.isdigit():
            try:
                missed = await run_in_threadpool(bus.history, int(since))
            except Exception:  # the event log is unreadable (database away): the panel retries
                await ws.close(code=1013)
                return
            for event in missed:
                if event.seq is not None:
                    sent.add(event.seq)
                    await ws.send_json(_masked(event) if mask else event.to_json())
        while True:
            event = await queue.get()
            if event.seq is not None and event.seq in sent:
                continue  # already sent from the log
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
