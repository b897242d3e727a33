"""Roles that need PostgreSQL refuse SQLite with an explanation; the queue's schema is installed by
`callcenter db upgrade`, once, even when several processes start together."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from callcenter.config import Settings
from callcenter.scale import roles


def _serve(tmp_path: Path, cfg: dict, role: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run([sys.executable, "-m", "callcenter.cli", "serve", "-c", str(path), "--role", role],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)


@pytest.mark.only_db("sqlite")
@pytest.mark.parametrize("role", ["agent", "web", "worker"])
def test_roles_refuse_sqlite_with_a_clear_message(tmp_path: Path, role: str) -> None:
    done = _serve(tmp_path, {"database": {"url": f"sqlite:///{tmp_path}/cc.db"}}, role)
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr and "docs/DEPLOYMENT.md" in done.stderr
    assert not (tmp_path / "cc.db").exists()  # refused before touching anything


@pytest.mark.only_db("sqlite")
def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    done = _serve(tmp_path, {}, "boss")
    assert done.returncode == 2 and "choose all, agent, web or worker" in done.stderr


def test_queue_mode_and_worker_role_need_each_other(pg_url: str) -> None:
    with pytest.raises(roles.RoleError, match="asr.mode: queue"):
        roles.check("worker", Settings(database={"url": pg_url}))  # type: ignore[arg-type]
    with pytest.raises(roles.RoleError, match="keeps the transcription jobs in PostgreSQL"):
        roles.check("all", Settings(asr={"mode": "queue"}))  # type: ignore[arg-type]
    roles.check("worker", Settings(database={"url": pg_url}, asr={"mode": "queue"}))  # type: ignore[arg-type]


def test_db_upgrade_installs_the_queue_once_under_concurrent_starts(pg_clean: str) -> None:
    settings = Settings(database={"url": pg_clean}, asr={"mode": "queue"})  # type: ignore[arg-type]
    with ThreadPoolExecutor(3) as pool:  # three processes starting together
        list(pool.map(lambda _: roles.prepare_database(settings), range(3)))
    eng = create_engine(pg_clean)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    eng.dispose()
    roles.prepare_database(settings)  # and again: nothing to do


@pytest.mark.only_db("postgresql")
def test_one_web_process_per_site_even_across_a_lost_connection(db_url: str) -> None:
    import psycopg

    from callcenter.scale.channel import libpq_url
    from callcenter.scale.presence import WebProcessLock, WebProcessTaken

    first, second = WebProcessLock(db_url, check_every_s=0.5), WebProcessLock(db_url)
    first.acquire()
    try:
        with pytest.raises(WebProcessTaken, match="already serves this site"):
            second.acquire(wait_s=1.0)
        # what a database restart does to the first process's session: the lock is taken again
        with psycopg.connect(libpq_url(db_url), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                         "AND objid = %s", (WebProcessLock.KEY,))
        time.sleep(2.0)
        with pytest.raises(WebProcessTaken):
            WebProcessLock(db_url).acquire(wait_s=1.0)
    finally:
        first.release()
    second.acquire(wait_s=2.0)  # the first one stopped: the next one starts
    second.release()
