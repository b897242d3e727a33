from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from starlette.concurrency import run_in_threadpool

from callcenter.accounts import Principal
from callcenter.events import Event
from callcenter.web.deps import AccountBook, Bus, Live, Settings
from callcenter.web.estate_scope import event_visibility
from callcenter.web.masking import mask_id_numbers, mask_phone, mask_phones_in_text, must_mask
from callcenter.web.security import same_origin, websocket_principal

router = APIRouter(tags=["events"])

SESSION_ENDED = 4401  # application close code: the login behind this connection has ended


@router.websocket("/api/events")
async def events(ws: WebSocket, bus: Bus, accounts: AccountBook, live: Live, settings: Settings) -> None:
    """Live events (call.ringing, call.answered, call.partial_transcript, call.ended,
    entry.draft_ready, ...) as JSON, each stored one with its number `seq`. Authenticate with the
    session cookie, `Authorization: Bearer`, or `?token=`; `?since=SEQ` first sends what was
    stored after SEQ (and a few before it: the panel drops what it has). A browser connection must
    come from the panel's origin. The connection closes (4401) when its login ends, and masking
    follows the user's current role."""
    if not same_origin(ws):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    principal = websocket_principal(ws)
    if principal is None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    estates = event_visibility(ws, principal)  # a clerk hears only the estates assigned to them
    await ws.accept()
    queue = bus.subscribe()
    ended = live.open(principal.user_id, principal.session_id)
    ended_wait = asyncio.ensure_future(ended.wait())
    # The client never sends anything; reading tells us at once when it leaves or the server shuts
    # down (uvicorn closes websockets on SIGTERM and waits for their handlers to return).
    gone = asyncio.ensure_future(_until_disconnected(ws))
    loop = asyncio.get_running_loop()
    who: Principal | None = principal
    checked_at = loop.time()
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
                    if await estates.visible(event):  # replayed events pass the same estate filter
                        await _send(ws, event, principal)
        while who is not None:
            getter = asyncio.ensure_future(queue.get())
            wait_s = max(0.0, checked_at + settings.session_check_s - loop.time())
            done, _ = await asyncio.wait({getter, ended_wait, gone}, timeout=wait_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if gone in done:  # the browser left, or the server is stopping
                getter.cancel()
                return
            if ended_wait in done:  # logged out (or the password changed) in this process
                getter.cancel()
                break
            if getter in done or not getter.cancel():  # cancel() fails when it got an event meanwhile
                event = getter.result()
                # not already sent from the log, and of an estate this user works for
                if (event.seq is None or event.seq not in sent) and await estates.visible(event):
                    # masking is decided per event, at send time, for the role the user has now
                    await _send(ws, event, who)
            if loop.time() - checked_at >= settings.session_check_s:
                # another process (`callcenter users disable`) may have ended the login
                who = await run_in_threadpool(accounts.session_alive, who)
                checked_at = loop.time()
        await ws.close(code=SESSION_ENDED, reason="session ended")
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        pass
    finally:
        ended_wait.cancel()
        gone.cancel()
        live.close(ended)
        bus.unsubscribe(queue)


async def _until_disconnected(ws: WebSocket) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _send(ws: WebSocket, event: Event, who: Principal) -> None:
    await ws.send_json(_masked(event) if must_mask(who) else event.to_json())


def _masked(event: Event) -> dict:
    out = event.to_json()
    data = dict(out["data"])
    for key in ("caller_number", "number"):
        if isinstance(data.get(key), str):
            data[key] = mask_phone(data[key])
    for key in ("text", "summary", "caller_display", "notes", "title", "body"):  # free text may hold numbers
        if isinstance(data.get(key), str):
            data[key] = mask_phones_in_text(mask_id_numbers(data[key]))
    out["data"] = data
    return out
