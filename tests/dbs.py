"""Database back-ends for tests: SQLite in a temp dir, and a real PostgreSQL cluster that the
test session starts itself from Debian's `postgresql` binaries (no server needs to be running)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
                                 f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off",
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
