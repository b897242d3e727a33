"""The site's confirmed entries as labelled examples (read-only queries on the ledger).

Every clerk confirmation is a label: the Correction rows written at confirmation hold, per
drafted field, the value the clerk confirmed; the text is the transcript the draft was made
from (kept in Entry.draft). Left out: entries without a transcript, merged entries, and
entries the repeat rule turned into complaints (their category says "asked twice", not what
the words say). The complaint subject has no confirmed column in the ledger yet, so site
examples teach category, department and urgency only.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from callcenter.drafting.train import Example
from callcenter.ledger.models import Call, Correction, Entry

_EXCLUDED_STATUSES = ("merged", "cancelled")


def _transcript(entry: Entry, calls: dict[int, str]) -> str:
    draft: dict[str, Any] = entry.draft or {}
    text = draft.get("transcript")
    if isinstance(text, str) and text.strip():
        return text
    return calls.get(entry.id or 0, "")


def site_examples(engine: Engine, *, since: datetime | None = None) -> list[Example]:
    """Confirmed entries with a transcript, oldest confirmation first."""
    with Session(engine) as s:
        q = select(Correction.entry_id, Correction.field, Correction.confirmed_value, Correction.at)
        if since is not None:
            q = q.where(col(Correction.at) > since)
        labels: dict[int, dict[str, str]] = defaultdict(dict)
        confirmed_at: dict[int, datetime] = {}
        for entry_id, name, value, at in s.exec(q):
            labels[entry_id][name] = value
            confirmed_at[entry_id] = min(at, confirmed_at.get(entry_id, at))
        if not labels:
            return []
        ids = sorted(labels)
        entries: dict[int, Entry] = {}
        calls: dict[int, str] = {}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            for entry in s.exec(select(Entry).where(col(Entry.id).in_(part))):
                assert entry.id is not None
                entries[entry.id] = entry
            for call in s.exec(select(Call).where(col(Call.entry_id).in_(part), Call.direction == "inbound")
                               .order_by(col(Call.received_at))):
                if call.entry_id is not None and call.transcript_text:
                    calls.setdefault(call.entry_id, call.transcript_text)
    out: list[Example] = []
    for entry_id in ids:
        found = entries.get(entry_id)
        if found is None:
            continue
        entry = found
        if entry.status in _EXCLUDED_STATUSES or entry.repeat_count > 0:
            continue
        text = _transcript(entry, calls)
        if not text.strip():
            continue
        got = labels[entry_id]
        urgent = got.get("urgent")
        out.append(Example(
            text=text, category=got.get("category") or None, department=got.get("department") or None,
            urgent=None if urgent is None else urgent == "true", source="site", entry_id=entry_id,
            at=confirmed_at[entry_id]))
    out.sort(key=lambda e: (e.at or datetime.min, e.entry_id or 0))
    return out
