"""Session-wide fixtures and the selection of each run.

The database back-end is chosen per run (`--db=sqlite|postgresql|both`): `db_url` is a fresh
database of that back-end for each test (a copy of one migrated once per session), and everything
that needs a database takes it from there. With `--db=both` (scripts/test, CI) one session runs
both: each test that reaches a database through `db_backend` is parametrized `[sqlite]` and
`[postgresql]` where its tier wants both, so the parallel workers pack the two back-ends' tests
together instead of running two sessions one after the other. Tests bound to one back-end carry
`@pytest.mark.only_db(...)`.

The tier is chosen per run too (`--tier=fast|full`, tests/tiers.py): the fast tier (CI) runs
PostgreSQL over the back-end-sensitive tests only (BOTH_DB_PATHS, and tests marked `both_dbs`) and
short versions of the long runs; the full tier runs everything that touches a database on both
back-ends, with the long runs at their full length."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcenter.clock import ManualClock
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests import tiers
from tests.dbs import PgDatabases, postgres_cluster

pytest_plugins = ["tests.sipbench.plugin", "tests.browser.plugin", "tests.cpu_log"]

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CALLCENTER_SHARED", REPO.parent / "shared"))
DB_BACKENDS = ("sqlite", "postgresql")
BOTH = "both"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        raise RuntimeError(f"../shared not found at {SHARED}: set CALLCENTER_SHARED")
    return SHARED


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=(*DB_BACKENDS, BOTH), default=os.environ.get("CALLCENTER_TEST_DB", "sqlite"),
                     help="the database back-end of this run (default: $CALLCENTER_TEST_DB or sqlite); "
                          "both: each test on the back-ends its tier wants, in one session (scripts/test)")
    parser.addoption("--tier", choices=tiers.TIERS, default=os.environ.get(tiers.ENV, "fast"),
                     help="fast (CI: short long-runs, PostgreSQL for back-end-sensitive tests) or full "
                          "(everything at full length on both back-ends); default $CALLCENTER_TEST_TIER or fast")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--db") not in (*DB_BACKENDS, BOTH):
        raise pytest.UsageError(f"--db / CALLCENTER_TEST_DB must be one of {', '.join((*DB_BACKENDS, BOTH))}")
    # Test modules read the tier when they are imported (tests/tiers.py), and so do xdist workers
    # and the child processes some tests start: the environment carries it to all of them.
    os.environ[tiers.ENV] = config.getoption("--tier")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database back-end: {config.getoption('--db')}, tier: {config.getoption('--tier')}"


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
DB_FIXTURES = {"db_url", "empty_db_url", "engine", "ledger", "pg_url", "db_backend"}


# Fixtures that make a test take seconds, not milliseconds (fixtures include those they use).
HEAVY_FIXTURES = {"kamailio", "chromium", "ko_factory", "ko_model_dir", "speak", "built_seed"}


# Where the back-end changes what the code does (SQL, locking, transactions, search, the job
# queue): the fast tier's PostgreSQL pass runs these, and tests elsewhere marked `both_dbs` (a
# few end-to-end calls). Everything else runs once, on SQLite.
BOTH_DB_PATHS = ("tests/ledger/", "tests/workflow/", "tests/reports/", "tests/web/", "tests/scale/",
                 "tests/qa/", "tests/faults/test_outbox.py", "tests/faults/test_recovery.py")


def _in_this_pass(item: pytest.Item, backend: str, tier: str) -> bool:
    wanted = _wanted_backend(item)
    if wanted is not None:
        return wanted == backend
    if backend == "sqlite":
        return True
    if not DB_FIXTURES & set(getattr(item, "fixturenames", ())):
        return False
    return tier == "full" or item.nodeid.startswith(BOTH_DB_PATHS) or item.get_closest_marker("both_dbs") is not None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.config.getoption("--db") == BOTH and "db_backend" in metafunc.fixturenames:
        metafunc.parametrize("db_backend", DB_BACKENDS, indirect=True)


def _backend_of(item: pytest.Item, run: str) -> str:
    """The back-end this item would meet: its `db_backend` parameter in a `both` run, else the run's.
    A `both` run's items without a database run once, as the SQLite pass used to run them."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "db_backend" in callspec.params:
        return str(callspec.params["db_backend"])
    if run != BOTH:
        return run
    return _wanted_backend(item) or "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests bound to the other back-end are deselected, not skipped: each run reports 0 skipped.
    run, tier = config.getoption("--db"), config.getoption("--tier")
    keep, drop = [], []
    for item in items:
        (keep if _in_this_pass(item, _backend_of(item, run), tier) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    items[:] = _dealt(sorted(items, key=_cost_rank), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))


def _cost_rank(item: pytest.Item) -> tuple[bool, bool]:
    """The long tests first, then those with real peers or real speech (the sort is stable, so
    each module keeps its order)."""
    return (item.get_closest_marker("slow") is None,
            not HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())))


def _dealt(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """Deal the costly-first list round-robin into one block per worker, blocks end to end.

    xdist's work stealing starts each worker on one contiguous block of the collection and
    steals from the tail of the longest queue. Costly-first as it is would put every long test in
    the first worker's block, run one after another there while the others finish the light
    tests and wait; dealt, each worker starts on its share of the long tests, and what is
    stolen late is light."""
    if workers <= 1:
        return items
    return [item for k in range(workers) for item in items[k::workers]]


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """The back-end this test meets: its parameter in a `--db=both` run, else the run's `--db`."""
    return str(getattr(request, "param", None) or request.config.getoption("--db"))


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger migrated once per session (per xdist worker); tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    db.upgrade(f"sqlite:///{path}")
    # WAL mode: every change must be in the main file before it is copied
    for leftover in (path.with_name("ledger.db-wal"), path.with_name("ledger.db-shm")):
        if leftover.exists():
            raise RuntimeError(f"{leftover} left behind by the migration: the template is incomplete")
    return path


@pytest.fixture
def empty_db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database of the selected back-end (no schema), for this test only."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
        return
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    with dbs.database() as url:
        yield url


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database of the selected back-end, already migrated to the newest schema, for this
    test only. The migrations run once per session; each test gets a copy (`empty_db_url` for a
    database without schema)."""
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "ledger.db")
        yield f"sqlite:///{tmp_path}/ledger.db"
        return
    dbs: PgDatabases = request.getfixturevalue("pg_databases")
    with dbs.database(dbs.migrated_template(db.upgrade)) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(engine: Engine, clock: ManualClock) -> LedgerService:
    return LedgerService(engine, clock, EventBus())
