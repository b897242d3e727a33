"""Input the whole API refuses at the edge, whatever the route: the same 422 on every database
back-end, instead of a value that one back-end stores and another fails on (500)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request
from starlette.requests import HTTPConnection

NUL = "\x00"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def refuse_nul(request: HTTPConnection) -> None:
    """No field of ours means a NUL character, and PostgreSQL text cannot hold one (SQLite can:
    it would be stored there and fail later, on export or migration). Query, path and JSON body
    of HTTP requests; the websocket's only input is its token, which is hashed, never stored."""
    if not isinstance(request, Request):
        return
    where = []
    if any(NUL in k or NUL in v for k, v in request.query_params.multi_items()):
        where.append("query")
    if any(isinstance(v, str) and NUL in v for v in request.path_params.values()):
        where.append("path")
    if request.headers.get("content-type", "").lower().startswith("application/json"):
        body = await request.body()  # cached: the route reads the same bytes
        if b"\\u0000" in body:  # JSON carries NUL only as this escape: parse only then
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None  # malformed JSON: FastAPI answers that itself
            if _has_nul(parsed):
                where.append("body")
    if where:
        raise HTTPException(422, f"输入不能包含空字符（NUL）/ NUL characters are not allowed ({', '.join(where)})")
