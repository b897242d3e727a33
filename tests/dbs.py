"""Database back-ends for tests: SQLite in a temp dir, and a real PostgreSQL cluster that the
test session starts itself from Debian's `postgresql` binaries (no server needs to be running).
Each PostgreSQL test gets its own empty database, dropped WITH (FORCE) afterwards, so a connection
a test leaves open (a killed child process, an engine never disposed) cannot leak into the next."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh PostgreSQL database on 127.0.0.1; removes it afterwards."""
    url = os.environ.get("CALLCENTER_TEST_PG_URL")
    if url:
        yield url
        return
    if not PG_BIN_CANDIDATES:
        raise RuntimeError("PostgreSQL binaries not found: apt-get install postgresql (see .ci/run)")
    bin_dir = PG_BIN_CANDIDATES[0]
    tmp = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    data = tmp / "data"
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "cc", "--auth=trust",
                                 "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)
    log = tmp / "pg.log"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                                 f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c max_connections=300"
                                 " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                                 "start"]), check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ok = subprocess.run([str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "cc",
                                 "-d", "postgres", "-c", "CREATE DATABASE callcenter"],
                                capture_output=True)
            if ok.returncode == 0:
                break
            time.sleep(0.3)
        yield f"postgresql+psycopg://cc@127.0.0.1:{port}/callcenter"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


class PgDatabases:
    """Makes one fresh, empty database per test on the server of `url` (its role needs CREATEDB)."""

    def __init__(self, url: str) -> None:
        self._url = make_url(url)
        self._admin = create_engine(self._url.set(database="postgres"), poolclass=NullPool,
                                    isolation_level="AUTOCOMMIT")
        self._names = (f"cc_test_{os.getpid()}_{n}" for n in count(1))
        self._template: str | None = None

    @contextmanager
    def database(self, template: str = "template0") -> Iterator[str]:
        """A new database copied from `template` (template0: empty; see `migrated_template`)."""
        name = next(self._names)
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        try:
            yield self._url.set(database=name).render_as_string(hide_password=False)
        finally:
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def migrated_template(self, migrate: Callable[[str], None]) -> str:
        """Name of a database migrated once by `migrate(url)`, to copy per test: CREATE DATABASE
        ... TEMPLATE copies files, far cheaper than running every migration again."""
        if self._template is None:
            name = f"cc_template_{os.getpid()}"
            with self._admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            migrate(self._url.set(database=name).render_as_string(hide_password=False))
            self._template = name
        return self._template

    def dispose(self) -> None:
        self._admin.dispose()
