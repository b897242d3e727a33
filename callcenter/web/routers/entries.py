from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from callcenter.accounts import Accounts, Principal
from callcenter.drafting.units import normalize_unit
from callcenter.ledger.edits import AlreadyConfirmed
from callcenter.ledger.search import InvalidCursor, cursor_of
from callcenter.ledger.service import LedgerError, LedgerService, NotFound
from callcenter.ledger.versions import StaleWrite
from callcenter.ledger.vocabulary import SOURCES
from callcenter.web import export
from callcenter.web.deps import AccountBook, Ledger, Presence
from callcenter.web.estate_scope import EstateFilter, Scope
from callcenter.web.masking import mask_phone, mask_text, must_mask
from callcenter.web.schemas import (
    AuditOut,
    ConfirmIn,
    CorrectionOut,
    EntryOut,
    EntryPage,
    EntryPatch,
    Instant,
    ManualEntryIn,
    Offset,
    OwnerId,
    RowId,
    refusals,
)
from callcenter.web.security import current_principal, require

router = APIRouter(prefix="/api/entries", tags=["entries"], responses=refusals(401, 422))
EXPORT_MAX_ROWS = 100_000
# The list counts at most this many matches ("10000+" beyond): an exact count of a broad filter
# at 100k entries would cost more than the page itself, and nobody pages that far by hand.
LIST_COUNT_CAP = 10_000
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def normal_unit(changes: dict[str, Any]) -> dict[str, Any]:
    """The unit as typed ("四栋两单元三零一") -> canonical "4-2-301", or a 422 that says how."""
    if changes.get("unit"):
        unit = normalize_unit(changes["unit"])
        if unit is None:
            raise HTTPException(422, f"房号 {changes['unit']!r} 无法识别（应为 楼栋-单元-房号，如 4-2-301）")
        changes["unit"] = unit
    return changes


def _entry_out(ledger: LedgerService, entry_id: int, who: Principal, *, words: bool = False) -> EntryOut:
    return EntryOut.of(ledger.get_entry(entry_id), ledger.calls_of_entry(entry_id), mask=must_mask(who),
                       words=words)


class Filters:
    """The ledger list's filters, shared by the list and the exports."""

    def __init__(self, status: str | None = Query(None, max_length=32),
                 category: str | None = Query(None, max_length=32),
                 department: str | None = Query(None, max_length=32), unit: str | None = Query(None, max_length=32),
                 caller: str | None = Query(None, max_length=32), urgent: bool | None = None,
                 owner: OwnerId = None, source: str | None = Query(None, max_length=32),
                 since: Instant | None = None, until: Instant | None = None,
                 q: str | None = Query(None, max_length=100)) -> None:
        self.kw: dict[str, Any] = dict(status=status, category=category, department=department, unit=unit,
                                       caller_number=caller, urgent=urgent, owner_id=owner, source=source,
                                       since=since, until=until, text=q or None)


@router.get("", response_model=EntryPage)
def list_entries(ledger: Ledger, f: Filters = Depends(), limit: int = Query(50, ge=1, le=500),
                 offset: Offset = 0, cursor: str | None = Query(None, max_length=200),
                 who: Principal = Depends(current_principal), *, estates: EstateFilter) -> EntryPage:
    """Newest first. Page with `cursor` (the previous page's next_cursor: keyset, as fast on
    page 2,000 as on page 1) or, for old clients, `offset` (slower the deeper it goes; ignored
    with a cursor)."""
    try:  # one row more than asked: whether there is a next page, without counting
        total, rows = ledger.list_entries(**f.kw, limit=limit + 1, offset=offset, cursor=cursor,
                                          count_cap=LIST_COUNT_CAP, estate_ids=estates)
    except InvalidCursor as exc:
        raise HTTPException(422, "分页游标无效，请从第一页重新查询") from exc
    more, rows = len(rows) > limit, rows[:limit]
    mask = must_mask(who)
    calls = ledger.calls_of_entries([e.id for e in rows if e.id is not None])  # stored rows have ids
    return EntryPage(total=min(total, LIST_COUNT_CAP), total_exact=total <= LIST_COUNT_CAP,
                     next_cursor=cursor_of(rows[-1]) if more else None,
                     items=[EntryOut.of(e, calls[e.id or 0], mask=mask) for e in rows])


@router.post("", response_model=EntryOut, status_code=201, responses=refusals(403))
def create_manual(body: ManualEntryIn, ledger: Ledger,
                  who: Principal = Depends(require("edit_entries")), *, scope: Scope) -> EntryOut:
    """In the estate `estate_id` (one of the clerk's; default: the clerk's only or first estate)."""
    fields = normal_unit(body.model_dump(exclude={"source", "estate_id"}))
    fields = {k: v for k, v in fields.items() if v not in ("", None)}
    estate_id = body.estate_id
    if estate_id is None and scope.ids is not None:
        estate_id = min(scope.ids)
    if estate_id is not None and not scope.allows(estate_id):
        raise HTTPException(403, "无权在该项目登记 / not one of your estates")
    try:
        entry = ledger.create_manual_entry(fields, body.source, who.username, who.user_id, estate_id=estate_id)
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from exc
    assert entry.id is not None
    return _entry_out(ledger, entry.id, who)


def _export(ledger: LedgerService, accounts: Accounts, f: Filters, who: Principal,
            estates: frozenset[int] | None) -> list[list[str]]:
    _, rows = ledger.list_entries(**f.kw, limit=EXPORT_MAX_ROWS, offset=0, estate_ids=estates)
    names = {uid: display for uid, _, display in accounts.users()}
    mask = mask_phone if must_mask(who) else (lambda n: n)
    tz = ZoneInfo(export.DISPLAY_TIMEZONE)
    out = export.rows(rows, lambda uid: names.get(uid, "") if uid else "", mask, tz, SOURCES)
    # numbers inside the free text too (a summary that says 「业主电话 139…」), for QA
    return [[mask_text(cell) for cell in row] for row in out] if must_mask(who) else out


@router.get("/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(ledger: Ledger, accounts: AccountBook, f: Filters = Depends(), who: Principal = Depends(current_principal),
               *, estates: EstateFilter) -> Response:
    return Response(export.to_csv(_export(ledger, accounts, f, who, estates)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})


@router.get("/export.xlsx", response_class=Response, responses={200: {"content": {_XLSX: {}}}})
def export_xlsx(ledger: Ledger, accounts: AccountBook, f: Filters = Depends(), who: Principal = Depends(current_principal),
                *, estates: EstateFilter) -> Response:
    return Response(export.to_xlsx(_export(ledger, accounts, f, who, estates)),
                    media_type=_XLSX, headers={"Content-Disposition": 'attachment; filename="ledger.xlsx"'})


@router.get("/{entry_id}", response_model=EntryOut, responses=refusals(404))
def get_entry(entry_id: RowId, ledger: Ledger, who: Principal = Depends(current_principal)) -> EntryOut:
    try:
        return _entry_out(ledger, entry_id, who, words=True)
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账 / no such entry") from exc


def _display_name(accounts: Accounts, username: str = "", user_id: int | None = None) -> str:
    for uid, name, display in accounts.users():
        if (user_id is not None and uid == user_id) or (username and name == username):
            return display
    return "系统" if username == "system" else (username or "另一位同事")


def _conflict(ledger: LedgerService, accounts: Accounts, entry_id: int, who: Principal) -> JSONResponse:
    """409 for a stale write: the entry as it is now (the form shows what differs from what the
    clerk started from) and who changed it last."""
    current = _entry_out(ledger, entry_id, who, words=True)
    last = next((a for a in reversed(ledger.audit_of_entry(entry_id)) if a.action != "note"), None)
    by = _display_name(accounts, last.actor) if last else "另一位同事"
    when = export.local_time(last.at) if last else ""
    return JSONResponse(status_code=409, content={
        "detail": f"这条台账已被 {by} 于 {when} 修改，您的保存未生效；请核对对方的修改后再保存",
        "conflict": {"changed_by": by, "changed_at": last.at.isoformat() if last else None,
                     "entry": current.model_dump(mode="json")}})


def _already_confirmed(accounts: Accounts, exc: AlreadyConfirmed) -> JSONResponse:
    by = _display_name(accounts, user_id=exc.owner_id)
    when = export.local_time(exc.confirmed_at) if exc.confirmed_at else ""
    return JSONResponse(status_code=409, content={
        "detail": f"这条草稿已由 {by} 于 {when} 确认登记，不能重复确认",
        "conflict": {"changed_by": by, "changed_at": exc.confirmed_at.isoformat() if exc.confirmed_at else None}})


@router.patch("/{entry_id}", response_model=EntryOut, responses=refusals(403, 404, 409))
def patch_entry(entry_id: RowId, patch: EntryPatch, ledger: Ledger, accounts: AccountBook,
                who: Principal = Depends(require("edit_entries"))) -> EntryOut | JSONResponse:
    """Correct fields or move the status. Send the `version` the form showed: when someone else
    changed the entry since, nothing is written and the answer is 409 with the entry as it is now."""
    changes = normal_unit(patch.model_dump(exclude_none=True))
    based_on = changes.pop("version", None)
    try:
        ledger.update_entry(entry_id, changes, who.username, based_on=based_on)
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账 / no such entry") from exc
    except StaleWrite:
        return _conflict(ledger, accounts, entry_id, who)
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _entry_out(ledger, entry_id, who)


@router.post("/{entry_id}/confirm", response_model=EntryOut, responses=refusals(403, 404, 409))
def confirm_entry(entry_id: RowId, body: ConfirmIn, ledger: Ledger, accounts: AccountBook,
                  who: Principal = Depends(require("edit_entries"))) -> EntryOut | JSONResponse:
    """Confirm the draft (with the clerk's corrections): registered, owned by this clerk (首接人).
    Once only: a second confirmation is refused (409) naming the clerk who confirmed first."""
    changes = normal_unit(body.model_dump(exclude_none=True))
    based_on = changes.pop("version", None)
    try:
        ledger.confirm_entry(entry_id, changes, who.username, who.user_id, based_on=based_on)
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账 / no such entry") from exc
    except AlreadyConfirmed as exc:
        return _already_confirmed(accounts, exc)
    except StaleWrite:
        entry = ledger.get_entry(entry_id)
        if entry.confirmed_at is not None:  # the other clerk's confirmation won the race
            return _already_confirmed(accounts, AlreadyConfirmed(entry_id, entry.owner_id, entry.confirmed_at))
        return _conflict(ledger, accounts, entry_id, who)
    except LedgerError as exc:
        raise HTTPException(422, str(exc)) from exc
    return _entry_out(ledger, entry_id, who, words=True)


@router.post("/{entry_id}/editing", responses=refusals(403, 404))
def editing(entry_id: RowId, ledger: Ledger, accounts: AccountBook, presence: Presence,
            who: Principal = Depends(require("edit_entries"))) -> dict[str, list[str]]:
    """The entry page has this entry open (sent every few seconds): who else has it open, to
    show 「李强 正在编辑」 before two clerks save over each other."""
    _must_exist(ledger, entry_id)
    return {"editors": presence.touch(entry_id, who.username, _display_name(accounts, who.username))}


@router.delete("/{entry_id}/editing", status_code=204, responses=refusals(403))
def stopped_editing(entry_id: RowId, presence: Presence, who: Principal = Depends(require("edit_entries"))) -> None:
    presence.leave(entry_id, who.username)


@router.post("/{entry_id}/acknowledge", status_code=204, responses=refusals(403, 404))
def acknowledge_urgent(entry_id: RowId, ledger: Ledger, who: Principal = Depends(require("edit_entries"))) -> None:
    """The clerk has seen an urgent call; every board stops flashing it; audited."""
    try:
        ledger.acknowledge_urgent(entry_id, who.username)
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账 / no such entry") from exc


@router.get("/{entry_id}/audit", response_model=list[AuditOut], responses=refusals(404))
def entry_audit(entry_id: RowId, ledger: Ledger, who: Principal = Depends(current_principal)) -> list[AuditOut]:
    """The entry's history; old and new values hold what clerks typed (numbers too): masked for QA."""
    _must_exist(ledger, entry_id)
    shown = mask_text if must_mask(who) else (lambda v: v)
    return [AuditOut(at=a.at, actor=a.actor, action=a.action, field=a.field, old=shown(a.old), new=shown(a.new))
            for a in ledger.audit_of_entry(entry_id)]


@router.get("/{entry_id}/corrections", response_model=list[CorrectionOut], responses=refusals(404))
def entry_corrections(entry_id: RowId, ledger: Ledger,
                      who: Principal = Depends(current_principal)) -> list[CorrectionOut]:
    """Drafted against confirmed values per field (the caller's number among them): masked for QA."""
    _must_exist(ledger, entry_id)
    out = [CorrectionOut.of(c) for c in ledger.corrections_of_entry(entry_id)]
    if must_mask(who):
        out = [c.model_copy(update={"draft_value": mask_text(c.draft_value),
                                    "confirmed_value": mask_text(c.confirmed_value)}) for c in out]
    return out


def _must_exist(ledger: LedgerService, entry_id: int) -> None:
    """An unknown entry is a 404, not an empty history."""
    try:
        ledger.get_entry(entry_id)
    except NotFound as exc:
        raise HTTPException(404, "没有这条台账 / no such entry") from exc
