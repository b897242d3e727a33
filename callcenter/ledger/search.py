"""The ledger list's text search and keyset pagination, fast at 100,000 entries.

Search covers entry summaries and call transcripts, the caller's and, on a bridged call, the
clerk's (Chinese, no spaces between words, so word tokenizers do not apply: both back-ends index
character trigrams instead):

- SQLite: FTS5 tables `entry_fts` / `call_fts` / `call_clerk_fts` (tokenizer `trigram`, migrations
  0004 and 0013), kept in sync by triggers. A query of >= 3 characters is one FTS5 phrase (substring match through the
  trigram index); 1-2 characters have no trigram, so they fall back to LIKE.
- PostgreSQL: GIN `gin_trgm_ops` indexes on entry.summary, call.transcript_text and
  call.clerk_transcript_text (pg_trgm), which ILIKE '%...%' uses by itself.

The user's text is always a bound parameter; for FTS5 it is quoted as one phrase so that
`"`, `*`, `OR`, `NEAR(` and the like are matched as text, never parsed as query syntax.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, column, or_, select, union
from sqlalchemy import text as sql_text
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from callcenter.ledger.models import Call, Entry

TRIGRAM_MIN = 3
# Above this many matches a LIKE search pages by scanning newest first (text_filter's `common`).
COMMON_MATCHES = 1000
# Names the migration creates outside SQLModel.metadata (autogenerate must ignore them).
FTS_TABLES = ("entry_fts", "call_fts", "call_clerk_fts")
TRGM_INDEXES = ("ix_entry_summary_trgm", "ix_call_transcript_trgm", "ix_call_clerk_transcript_trgm")

_FTS_IDS = sql_text(
    "SELECT rowid FROM entry_fts WHERE entry_fts MATCH :fts_phrase "
    "UNION SELECT c.entry_id FROM call_fts JOIN call AS c ON c.id = call_fts.rowid "
    "WHERE call_fts MATCH :fts_phrase "
    "UNION SELECT c.entry_id FROM call_clerk_fts JOIN call AS c ON c.id = call_clerk_fts.rowid "
    "WHERE call_clerk_fts MATCH :fts_phrase")


def fts5_phrase(query: str) -> str:
    """The text as one FTS5 string (a phrase): inside double quotes only `"` is special, and
    doubling it escapes it; operators and brackets inside are plain characters."""
    return '"' + query.replace('"', '""') + '"'


def text_filter(dialect: str, query: str, *, common: bool = False) -> ColumnElement[bool] | None:
    """Entries whose summary, or a transcript (caller's or clerk's) of one of their calls, contains `query`.
    `common`: the caller knows the text matches many entries (see COMMON_MATCHES)."""
    query = query.strip()
    if not query:
        return None
    if dialect == "sqlite" and len(query) >= TRIGRAM_MIN:
        ids = _FTS_IDS.bindparams(fts_phrase=fts5_phrase(query)).columns(column("rowid", Integer))
        return col(Entry.id).in_(ids)
    # PostgreSQL (the trigram GIN indexes serve LIKE and ILIKE), or SQLite's 1-2 character
    # fallback. Text without upper/lower case (Chinese, digits) gets LIKE: the same matches as
    # ILIKE, which lowercases every row first and costs about twice as much on PostgreSQL.
    caseless = dialect != "postgresql" or query.lower() == query.upper()
    def contains(text: Any) -> ColumnElement[bool]:  # a column (SQLModel types it Mapped[str])
        return text.contains(query, autoescape=True) if caseless else text.icontains(query, autoescape=True)

    in_summary = contains(col(Entry.summary))
    in_transcript = or_(contains(col(Call.transcript_text)), contains(col(Call.clerk_transcript_text)))
    if common:
        # Many matches: scanning entries newest first stops after one page, while collecting
        # every match first (below) costs as much as the count.
        return or_(in_summary, col(Entry.id).in_(select(col(Call.entry_id)).where(in_transcript)))
    # Few matches: a UNION of lookups that each use their index (an OR across tables would
    # defeat the indexes on PostgreSQL; within `call`, an OR of two indexed columns becomes a
    # BitmapOr of both indexes).
    return col(Entry.id).in_(union(select(col(Entry.id)).where(in_summary),
                                   select(col(Call.entry_id)).where(in_transcript)))


def with_text(q: SelectOfScalar[Entry], dialect: str, query: str, *, common: bool = False) -> SelectOfScalar[Entry]:
    found = text_filter(dialect, query, common=common)
    return q if found is None else q.where(found)


# ----- keyset pagination ------------------------------------------------------------------------

class InvalidCursor(ValueError):
    """A cursor that this code did not hand out (or an old format)."""


@dataclass(frozen=True)
class Cursor:
    """The last row of the previous page in the list's order (created_at desc, id desc)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, pk = json.loads(raw)
            created_at = datetime.fromisoformat(at)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidCursor("bad cursor") from exc
        if created_at.tzinfo is None or not isinstance(pk, int) or isinstance(pk, bool):
            raise InvalidCursor("bad cursor")
        return cls(created_at, pk)

    def after(self) -> ColumnElement[bool]:
        """Rows after this one in the list's order. `created_at <= x` first: a plain range on
        the created_at index, which a row-value comparison would not use on PostgreSQL."""
        return and_(col(Entry.created_at) <= self.created_at,
                    or_(col(Entry.created_at) < self.created_at, col(Entry.id) < self.id))


def cursor_of(entry: Entry) -> str:
    assert entry.id is not None
    return Cursor(entry.created_at, entry.id).encode()
