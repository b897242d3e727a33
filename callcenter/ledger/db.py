"""Engine creation and schema migration (Alembic, from the first table on)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.pool import NullPool
from sqlmodel import create_engine

_MIGRATIONS = Path(__file__).parent / "migrations"


BUSY_TIMEOUT_S = 5.0  # database.busy_timeout_s


def make_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        # No pool: every call thread writes the ledger, and a bounded pool ran dry at ~60 concurrent
        # calls (bench/pipeline_load.py). SQLite connections are cheap to open; WAL serialises writers.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
                               poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL: readers (the panel) never block the writer (the call pipeline).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # a locked database fails a write after a few seconds (the panel answers 503 and retries;
            # the call path has its own shorter timeout and the outbox), never after half a minute
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cur.close()

        return engine
    # Each concurrent call may hold a connection briefly; size for a full agent plus the panel.
    # connect_timeout: a server that is down or unreachable fails a call's write in seconds, so the
    # outbox takes over, instead of blocking the call for the operating system's TCP timeout.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=90, pool_timeout=60,
                         connect_args={"connect_timeout": 5})


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database schema to the newest migration (idempotent)."""
    if url.startswith("sqlite"):
        make_engine(url).dispose()  # creates the parent directory
    command.upgrade(alembic_config(url), "head")
