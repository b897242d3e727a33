"""Session-wide fixtures. The database back-end is chosen per run (`--db=sqlite|postgresql`):
`db_url` is a fresh empty database of that back-end for each test, and everything that needs a
database takes it from there. Tests bound to one back-end carry `@pytest.mark.only_db(...)`."""

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
from tests.dbs import PgDatabases, postgres_cluster

pytest_plugins = ["tests.sipbench.plugin", "tests.browser.plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared"))
DB_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        raise RuntimeError(f"../shared not found at {SHARED}: set CALLCENTER_SHARED")
    return SHARED


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=DB_BACKENDS, default=os.environ.get("CALLCENTER_TEST_DB", "sqlite"),
                     help="the database back-end of this run (default: $CALLCENTER_TEST_DB or sqlite); "
                          "scripts/test runs the suite once per back-end")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--db") not in DB_BACKENDS:
        raise pytest.UsageError(f"--db / CALLCENTER_TEST_DB must be one of {', '.join(DB_BACKENDS)}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database back-end: {config.getoption('--db')}"


def _wanted_backend(item: pytest.Item) -> str | None:
    """The back-end a test is bound to: `@pytest.mark.only_db(...)`, an indirect `db_url` parameter,
    or PostgreSQL for a test that asks for the server itself (`pg_url`)."""
    mark = item.get_closest_marker("only_db")
    if mark is not None:
        if len(mark.args) != 1 or mark.args[0] not in DB_BACKENDS:
            raise pytest.UsageError(f"{item.nodeid}: only_db takes one of {DB_BACKENDS}, got {mark.args}")
        return str(mark.args[0])
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "db_url" in callspec.params:
        return str(callspec.params["db_url"])
    if "pg_url" in getattr(item, "fixturenames", ()):
        return "postgresql"
    return None


# A test whose fixtures include none of these never reaches a database through the back-end under
# test: the PostgreSQL pass would repeat it byte for byte, so only the SQLite pass runs it.
DB_FIXTURES = {"db_url", "engine", "ledger", "pg_url", "db_backend"}


def _in_this_pass(item: pytest.Item, backend: str) -> bool:
    wanted = _wanted_backend(item)
    if wanted is not None:
        return wanted == backend
    return backend == "sqlite" or bool(DB_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests bound to the other back-end are deselected, not skipped: each pass reports 0 skipped.
    backend = config.getoption("--db")
    keep, drop = [], []
    for item in items:
        (keep if _in_this_pass(item, backend) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def db_backend(pytestconfig: pytest.Config) -> str:
    """The back-end this run tests (`--db`): sqlite or postgresql."""
    return str(pytestconfig.getoption("--db"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The session's PostgreSQL server (started on first use), as the URL of a database on it."""
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def pg_databases(pg_url: str) -> Iterator[PgDatabases]:
    dbs = PgDatabases(pg_url)
    yield dbs
    dbs.dispose()


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database of the selected back-end, for this test only."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
        return
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    with dbs.database() as url:
        yield url


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
