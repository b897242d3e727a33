"""Full-text search (FTS5 trigram on SQLite, pg_trgm on PostgreSQL) and keyset pagination of the
ledger list, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from alembic import command
from sqlalchemy import Engine, delete, text
from sqlmodel import col

from callcenter.accounts import Accounts
from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db, search
from callcenter.ledger.models import AuditLog, Call, Entry
from callcenter.ledger.service import LedgerService


@pytest.fixture
def clerk_id(engine: Engine, clock: ManualClock) -> int:
    accounts = Accounts(engine, clock)
    accounts.add_user("clerk1", "clerk", "clerk-password")
    return accounts.users()[0][0]


def manual(ledger: LedgerService, clerk_id: int, summary: str) -> int:
    entry = ledger.create_manual_entry({"summary": summary}, "walk_in", "clerk1", clerk_id)
    assert entry.id is not None
    return entry.id


def phone_call(ledger: LedgerService, sip_id: str, transcript: str) -> tuple[int, int]:
    """(call id, entry id) of an answered, ended, transcribed call."""
    pk = ledger.call_ringing(sip_id, "13800138000", "", "hotline", ledger.clock.now())
    answered = ledger.call_answered(sip_id)
    ledger.call_ended(sip_id, "caller_hangup", None)
    ledger.set_transcript(sip_id, SimpleNamespace(text=transcript, words=[], engine="test"), "done")
    return pk, answered.entry_id


def found(ledger: LedgerService, q: str) -> set[int]:
    total, rows = ledger.list_entries(text=q, limit=500)
    ids = {e.id for e in rows if e.id is not None}
    assert total == len(ids)
    return ids


def fts_in_sync(engine: Engine) -> None:
    """SQLite only: FTS5's integrity-check with rank 1 compares the index to the base tables."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        for fts in search.FTS_TABLES:
            conn.execute(text(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)"))  # noqa: S608


def test_chinese_substrings_in_summary_and_transcript(ledger: LedgerService, clerk_id: int) -> None:
    pipe = manual(ledger, clerk_id, "3栋2单元厨房水管爆了，水漫到楼下")
    lamp = manual(ledger, clerk_id, "楼道灯不亮")
    _, lift = phone_call(ledger, "c1", "您好，我们小区3号楼电梯困人了，快来人")
    assert found(ledger, "水管爆") == {pipe}  # middle of the text, no word boundaries
    assert found(ledger, "漫到楼下") == {pipe}
    assert found(ledger, "电梯困人") == {lift}  # only in the transcript
    assert found(ledger, "楼道灯不亮") == {lamp}
    assert found(ledger, "不存在的词") == set()
    fts_in_sync(ledger.engine)


def test_one_and_two_characters_fall_back_to_like(ledger: LedgerService, clerk_id: int) -> None:
    pipe = manual(ledger, clerk_id, "厨房水管爆了")
    lamp = manual(ledger, clerk_id, "楼道灯不亮")
    _, lift = phone_call(ledger, "c1", "电梯困人")
    assert found(ledger, "水") == {pipe}
    assert found(ledger, "灯") == {lamp}
    assert found(ledger, "电梯") == {lift}
    assert found(ledger, "了") == {pipe}
    assert found(ledger, "厨") == {pipe}
    assert found(ledger, "梯困") == {lift}


SYNTAX = '他说"水管 OR 电梯" NEAR(a, b) 100% a_b*c \\ (x)'


@pytest.mark.parametrize("q, hit", [
    ('"', True), ('""', False), ("*", True), ("OR", True), ("NEAR(", True), ("NEAR(a, b)", True),
    ('"水管 OR 电梯"', True), ("水管 OR 电梯", True), ("水管 AND 电梯", False), ("电梯*", False),
    ("a_b", True), ("a%b", False), ("100%", True), ("%", True), ("_", True), ("\\", True),
    ("(x)", True), ("'", False), ("'; DROP TABLE entry; --", False), ("水管 NOT", False),
    ("^水", False), ("a_b*c", True), ("a*", False), (":", False), ("summary:水管", False),
])
def test_query_syntax_is_plain_text(ledger: LedgerService, clerk_id: int, q: str, hit: bool) -> None:
    weird = manual(ledger, clerk_id, SYNTAX)
    manual(ledger, clerk_id, "水管电梯 abc NEAR 其他")
    assert (q in SYNTAX) == hit  # the expectation is plain substring semantics
    assert found(ledger, q) == ({weird} if hit else set())


def test_triggers_keep_the_index_in_sync(ledger: LedgerService, clerk_id: int) -> None:
    e = manual(ledger, clerk_id, "楼道灯不亮")
    call_pk, call_entry = phone_call(ledger, "c1", "停车位被别人占了")
    assert found(ledger, "楼道灯") == {e}
    assert found(ledger, "停车位") == {call_entry}
    fts_in_sync(ledger.engine)

    ledger.update_entry(e, {"summary": "垃圾没人清理"}, "clerk1")  # update of entry.summary
    assert found(ledger, "楼道灯") == set()
    assert found(ledger, "垃圾没人") == {e}
    ledger.set_transcript("c1", SimpleNamespace(text="下水道堵了", words=[], engine="t"), "done")
    assert found(ledger, "停车位") == set()
    assert found(ledger, "下水道") == {call_entry}
    fts_in_sync(ledger.engine)

    with ledger.engine.begin() as conn:  # deletes (a test site cleaned up, say)
        conn.execute(delete(AuditLog).where(col(AuditLog.call_id) == call_pk))
        conn.execute(delete(Call).where(col(Call.id) == call_pk))
        conn.execute(delete(AuditLog).where(col(AuditLog.entry_id) == e))
        conn.execute(delete(Entry).where(col(Entry.id) == e))
    assert found(ledger, "下水道") == set()
    assert found(ledger, "垃圾没人") == set()
    fts_in_sync(ledger.engine)
    if ledger.engine.dialect.name == "sqlite":  # nothing left behind in the index itself
        with ledger.engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM entry_fts WHERE entry_fts MATCH :q"),
                                {"q": search.fts5_phrase("垃圾没人")}).scalar_one()
        assert left == 0


def test_the_clerks_words_on_a_bridged_call_are_found_too(ledger: LedgerService, clerk_id: int) -> None:
    """QA looks for what clerks said (「坐席说过“不清楚”的通话」), not only for what callers said."""
    _, bridged = phone_call(ledger, "c1", "楼上漏水到我家卫生间")
    _, other = phone_call(ledger, "c2", "电梯按钮失灵")
    words = SimpleNamespace(text="这个我也不清楚您等通知吧", words=[], engine="t")
    ledger.set_clerk_transcript("c1", words, "done")
    assert found(ledger, "不清楚") == {bridged}  # trigram path (SQLite FTS5 / PostgreSQL GIN)
    assert found(ledger, "通知") == {bridged}  # the 1-2 character LIKE path
    assert found(ledger, "漏水") == {bridged}  # the caller's words still
    assert found(ledger, "电梯按钮") == {other}
    fts_in_sync(ledger.engine)
    ledger.set_clerk_transcript("c1", SimpleNamespace(text="马上安排师傅上门", words=[], engine="t"), "done")
    assert found(ledger, "不清楚") == set()  # the update trigger replaced the old words
    assert found(ledger, "安排师傅") == {bridged}
    fts_in_sync(ledger.engine)


@pytest.mark.only_db("postgresql")  # the trigram indexes are PostgreSQL's
def test_postgres_search_uses_the_trigram_indexes(ledger: LedgerService, clerk_id: int) -> None:
    manual(ledger, clerk_id, "厨房水管爆了")
    with ledger.engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text("EXPLAIN SELECT id FROM entry WHERE summary ILIKE '%水管爆%'")).scalars())
        hits = conn.execute(text("SELECT count(*) FROM entry WHERE summary ILIKE '%水管爆%'")).scalar_one()
        clerk_plan = "\n".join(conn.execute(text(
            "EXPLAIN SELECT entry_id FROM call WHERE clerk_transcript_text LIKE '%不清楚%'")).scalars())
    assert "ix_entry_summary_trgm" in plan, plan
    assert "ix_call_clerk_transcript_trgm" in clerk_plan, clerk_plan
    assert hits == 1


def test_migration_down_and_up_again(db_url: str, engine: Engine, clock: ManualClock) -> None:
    ledger = LedgerService(engine, clock, EventBus())
    _, entry_id = phone_call(ledger, "c1", "邻居装修噪音太大")
    cfg = db.alembic_config(db_url)

    def fts_objects() -> int:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = "SELECT count(*) FROM sqlite_master WHERE name LIKE '%fts%'"
            else:
                sql = "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%trgm'"
            return int(conn.execute(text(sql)).scalar_one())

    assert fts_objects() > 0
    command.downgrade(cfg, "0003")
    assert fts_objects() == 0
    # The ORM reads the columns later migrations add to `entry` and `call` (0007's version, 0008's
    # agent, 0009's estate, 0010's clerk transcript): lend them for the look, so what is tested is the search's fallback,
    # not the schema of 0003.
    lent = [("entry", "version INTEGER NOT NULL DEFAULT 1"), ("entry", "estate_id INTEGER NOT NULL DEFAULT 1"),
            ("call", "estate_id INTEGER NOT NULL DEFAULT 1"), ("call", "agent_id VARCHAR(64)"),
            ("call", "intake_path VARCHAR(16) NOT NULL DEFAULT ''"),
            ("call", "clerk_transcript_text TEXT NOT NULL DEFAULT ''")]
    with engine.begin() as conn:
        for table, column in lent:
            conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN {column}'))
    assert found(ledger, "噪") == {entry_id}  # the LIKE fallback needs nothing from 0004
    with engine.begin() as conn:
        for table, column in lent:
            conn.execute(text(f'ALTER TABLE "{table}" DROP COLUMN {column.split()[0]}'))
    command.upgrade(cfg, "head")
    assert fts_objects() > 0
    assert found(ledger, "装修噪音") == {entry_id}  # existing rows were backfilled
    fts_in_sync(engine)


# ----- keyset pagination ------------------------------------------------------------------------

def walk(ledger: LedgerService, limit: int, **kw: object) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        _, rows = ledger.list_entries(limit=limit, cursor=cursor, **kw)  # type: ignore[arg-type]
        ids += [e.id for e in rows if e.id is not None]
        if len(rows) < limit:
            return ids
        cursor = search.cursor_of(rows[-1])


def test_keyset_walk_has_no_duplicates_or_gaps(ledger: LedgerService, clerk_id: int, clock: ManualClock) -> None:
    made = []
    for i in range(23):
        made.append(manual(ledger, clerk_id, f"第{i}条 楼道灯不亮"))
        if i % 4 == 3:  # several rows share a created_at: the id breaks the tie
            clock.advance(seconds=1)
    newest_first = sorted(made, key=lambda i: i, reverse=True)
    assert walk(ledger, 5) == newest_first
    assert walk(ledger, 1) == newest_first
    assert walk(ledger, 23) == newest_first
    assert walk(ledger, 4, text="楼道灯") == newest_first  # with the search filter
    assert walk(ledger, 3, text="第1") == [i for i in newest_first if i in found(ledger, "第1")]


def test_keyset_walk_is_stable_under_inserts(ledger: LedgerService, clerk_id: int, clock: ManualClock) -> None:
    made = []
    for i in range(12):
        made.append(manual(ledger, clerk_id, f"旧{i}"))
        clock.advance(seconds=1)
    seen: list[int] = []
    cursor = None
    while True:
        _, rows = ledger.list_entries(limit=5, cursor=cursor)
        seen += [e.id for e in rows if e.id is not None]
        for _ in range(3):  # calls keep arriving while the clerk pages
            manual(ledger, clerk_id, "新来电")
            clock.advance(seconds=1)
        if len(rows) < 5:
            break
        cursor = search.cursor_of(rows[-1])
    assert seen == made[::-1]
    # what offset paging would have shown instead: the same rows again
    _, first = ledger.list_entries(limit=5, offset=0)
    assert first[0].id not in made


def test_count_cap_and_bad_cursors(ledger: LedgerService, clerk_id: int) -> None:
    for i in range(8):
        manual(ledger, clerk_id, f"条目{i}")
    assert ledger.list_entries(limit=2)[0] == 8
    assert ledger.list_entries(limit=2, count_cap=5)[0] == 6  # "more than 5"
    assert ledger.list_entries(limit=2, count_cap=8)[0] == 8
    good = search.Cursor(datetime(2026, 1, 5, tzinfo=UTC), 3).encode()
    assert search.Cursor.decode(good) == search.Cursor(datetime(2026, 1, 5, tzinfo=UTC), 3)
    for bad in ["", "x", "!!!", "WzEsMl0", good[:-3], "bnVsbA", "WyIyMDI2LTAxLTA1IiwgM10"]:
        with pytest.raises(search.InvalidCursor):
            ledger.list_entries(cursor=bad or "=")


@pytest.mark.parametrize("common", [False, True])
def test_latin_letters_ignore_case_and_both_query_shapes_agree(ledger: LedgerService, clerk_id: int,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                common: bool) -> None:
    """`common` forces the newest-first query shape used for words with many matches."""
    if common:
        monkeypatch.setattr(search, "COMMON_MATCHES", -1)
    wifi = manual(ledger, clerk_id, "大堂WiFi坏了")
    _, lift = phone_call(ledger, "c1", "3号楼电梯困人，ABC公司维保")
    other = manual(ledger, clerk_id, "楼道灯不亮")
    for q, want in [("wifi", {wifi}), ("WIFI坏", {wifi}), ("Wi", {wifi}), ("abc", {lift}), ("电梯困", {lift}),
                    ("梯", {lift}), ("楼", {lift, other}), ("不存在的词", set()), ("%", set()), ("a_c", set())]:
        assert found(ledger, q) == want, q
