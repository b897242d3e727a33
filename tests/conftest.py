from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.dbs import postgres_cluster

pytest_plugins = ["tests.sipbench.plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        raise RuntimeError(f"../shared not found at {SHARED}: set CALLCENTER_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


def _reset(url: str) -> None:
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    url = request.getfixturevalue("pg_url")
    _reset(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    db.upgrade(db_url)
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(engine: Engine, clock: ManualClock) -> LedgerService:
    return LedgerService(engine, clock, EventBus())
