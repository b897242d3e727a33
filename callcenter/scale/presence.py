"""Agents that own their calls: each agent process has an identity (`sip.instance_id`), holds a
lease on it in PostgreSQL while it runs, and another process recovers its calls once it is gone.

Liveness has two signs, and recovery needs both to say "dead":
- the lease row (`agent_lease`), whose heartbeat the agent renews every `lease_s / 3` seconds,
  with the database's clock (no skew between machines);
- a session advisory lock keyed on the agent id, held on the agent's own connection and taken
  again on every reconnect.
A database restart drops the lock and stops the heartbeats for a moment, so a lapse is only
believed once the server has been up for a whole lease (`pg_postmaster_start_time`): every live
agent has renewed by then. A killed agent's lock goes with its connection at once and its lease
lapses `lease_s` later; the web process's sweep (every SWEEP_EVERY_S) then recovers its calls:
recordings repaired and linked, calls and entries marked interrupted, transcripts owed.

An agent that starts with an identity held by a live agent (lock taken, or a fresh heartbeat) is
refused; one whose previous run died takes its identity over and recovers its own calls itself.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callcenter.scale.channel import libpq_url

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 10
_LOCK_SQL = "hashtextextended(%s, 6513249)"  # one advisory-lock key per agent id ("cc" namespace)


class AgentIdTaken(ValueError):
    """Another live agent holds this identity (explained for the administrator)."""


def _connect(url: str) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5)


class AgentLease:
    """The agent's side: take the identity at start, renew it until stop, release it cleanly."""

    def __init__(self, url: str, agent_id: str, *, node: str = "", line: str = "", lease_s: int = 30,
                 wait_s: float | None = None) -> None:
        self.url, self.agent_id, self.node, self.line, self.lease_s = url, agent_id, node, line, lease_s
        # A start right after a database restart waits this long for a live holder to show itself.
        self.wait_s = lease_s + 5 if wait_s is None else wait_s
        self.token = str(uuid.uuid4())
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="agent-lease", daemon=True)
        self.renewals = 0

    # ----- start ----------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the identity, or raise AgentIdTaken if a live agent holds it."""
        conn = _connect(self.url)
        deadline = time.monotonic() + self.wait_s
        while True:
            if not self._lock_within(conn, 10.0):  # the dead-agent sweep holds it for a moment only
                conn.close()
                raise AgentIdTaken(self._taken_message("its lock is held"))
            row = conn.execute(
                "SELECT l.released, l.heartbeat_at > now() - make_interval(secs => l.lease_s), "
                "       l.heartbeat_at > pg_postmaster_start_time() "
                "FROM agent_lease l WHERE l.agent_id = %s", (self.agent_id,)).fetchone()
            # The lock is free, so no holder is connected: it is dead, unless the database restarted
            # under it and it has not reconnected yet (a fresh heartbeat from before the restart).
            # Then wait: a live holder takes its lock again within a heartbeat, or the lease lapses.
            if row is None or row[0] or not row[1] or row[2] or time.monotonic() > deadline:
                break
            conn.execute("SELECT pg_advisory_unlock(" + _LOCK_SQL + ")", (self.agent_id,))
            time.sleep(1.0)
        conn.execute(
            "INSERT INTO agent_lease (agent_id, token, node, line, lease_s, started_at, heartbeat_at, released) "
            "VALUES (%s, %s, %s, %s, %s, now(), now(), false) "
            "ON CONFLICT (agent_id) DO UPDATE SET token = excluded.token, node = excluded.node, "
            "line = excluded.line, lease_s = excluded.lease_s, started_at = now(), heartbeat_at = now(), "
            "released = false",
            (self.agent_id, self.token, self.node[:128], self.line[:64], self.lease_s))
        self._conn = conn
        log.info("agent %s: lease taken (%d s, renewed every %d s)", self.agent_id, self.lease_s,
                 self.renew_every_s)

    def _lock_within(self, conn: psycopg.Connection[Any], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self._try_lock(conn):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def _try_lock(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(" + _LOCK_SQL + ")", (self.agent_id,)).fetchone()
        return bool(row and row[0])

    def _taken_message(self, why: str) -> str:
        return (f"sip.instance_id {self.agent_id} is in use by another running agent ({why}); each agent "
                f"process needs its own sip.instance_id (urn:uuid:..., e.g. from `uuidgen`). If that agent "
                f"was just stopped, start this one again in {self.lease_s} s.")

    @property
    def renew_every_s(self) -> int:
        return max(1, self.lease_s // 3)

    # ----- running --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            try:
                self.renew()
            except Exception as exc:  # database away: keep trying; the lease outlives a restart
                log.warning("agent %s: lease not renewed (%s); retrying", self.agent_id,
                            str(exc).splitlines()[0][:200])
                if self._conn is not None:
                    self._conn.close()
                self._conn = None

    def renew(self) -> None:
        if self._conn is None or self._conn.closed:  # a reconnect: take the lock again first
            conn = _connect(self.url)
            if not self._try_lock(conn):
                log.error("agent %s: after a reconnect another process holds this agent's lock", self.agent_id)
            self._conn = conn
        cur = self._conn.execute("UPDATE agent_lease SET heartbeat_at = now(), released = false "
                                 "WHERE agent_id = %s AND token = %s", (self.agent_id, self.token))
        if cur.rowcount == 0:
            log.error("agent %s: the lease was taken over by another process", self.agent_id)
        self.renewals += 1

    def release(self) -> None:
        """A clean stop: nothing to recover."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(5)
        try:
            conn = self._conn if self._conn is not None and not self._conn.closed else _connect(self.url)
            conn.execute("UPDATE agent_lease SET released = true WHERE agent_id = %s AND token = %s",
                         (self.agent_id, self.token))
            conn.close()
        except Exception as exc:  # the database is away: the lease lapses; recovery finds nothing open
            log.warning("agent %s: lease not released (%s)", self.agent_id, exc)
        self._conn = None

    def others_alive(self) -> bool:
        """Whether another agent holds a live lease (the start-up check for calls of no agent)."""
        assert self._conn is not None
        row = self._conn.execute(
            "SELECT count(*) FROM agent_lease WHERE agent_id <> %s AND NOT released AND "
            "(heartbeat_at > now() - make_interval(secs => lease_s) OR "
            " now() - pg_postmaster_start_time() < make_interval(secs => lease_s))", (self.agent_id,)).fetchone()
        return bool(row and row[0])


# The lease fresh (or the server just restarted), and the agent's advisory lock (_LOCK_SQL's key,
# split into pg_locks' two 32-bit halves) granted to some session (or the server just restarted).
_ALIVE_SQL = """
SELECT 1 FROM agent_lease l, hashtextextended(%s, 6513249) AS k(key)
WHERE l.agent_id = %s AND NOT l.released
  AND (l.heartbeat_at > now() - make_interval(secs => l.lease_s)
       OR now() - pg_postmaster_start_time() < make_interval(secs => l.lease_s))
  AND (now() - pg_postmaster_start_time() < make_interval(secs => l.lease_s)
       OR EXISTS (SELECT 1 FROM pg_locks p WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
                  AND p.classid::bigint = ((k.key >> 32) & 4294967295)
                  AND p.objid::bigint = (k.key & 4294967295)))"""


def agent_alive(conn: psycopg.Connection[Any], agent_id: str) -> bool:
    """Whether the agent runs now, as far as another process can tell: its lease is held and fresh,
    and its advisory lock is held (a killed agent's lock goes with its connection at once, before
    its lease lapses). Right after a database restart neither sign is back yet: believed alive, as
    the sweep does. Read-only (pg_locks), so a restarting agent's acquire is never raced."""
    row = conn.execute(_ALIVE_SQL, (agent_id, agent_id)).fetchone()
    return row is not None


@dataclass(frozen=True)
class Lapsed:
    agent_id: str
    token: str
    node: str
    line: str


class DeadAgentSweep:
    """The recovering side (web role, an APScheduler job): finds agents whose lease lapsed and
    whose lock is free, and runs `recover(agent_id)` for each, holding that agent's lock meanwhile
    so a restarting agent waits rather than races."""

    def __init__(self, url: str, recover: Callable[[str], int]) -> None:
        self.url, self.recover = url, recover
        self.recovered: list[tuple[str, int, float]] = []  # (agent id, calls, seconds after the lapse)

    def sweep(self) -> int:
        """One round; returns how many calls were recovered (0 while the database is away)."""
        import psycopg

        try:
            return self._sweep()
        except psycopg.OperationalError as exc:  # next round; a lapse is only believed a lease after it is back
            log.warning("dead-agent sweep: database unreachable (%s)", str(exc).splitlines()[0][:160])
            return 0

    def _sweep(self) -> int:
        total = 0
        with _connect(self.url) as conn:
            rows = conn.execute(
                "SELECT agent_id, token, node, line, "
                "       extract(epoch FROM now() - heartbeat_at - make_interval(secs => lease_s)) "
                "FROM agent_lease WHERE NOT released "
                "AND heartbeat_at < now() - make_interval(secs => lease_s) "
                "AND now() - pg_postmaster_start_time() > make_interval(secs => lease_s)").fetchall()
            for agent_id, token, node, line, late_s in rows:
                got = conn.execute("SELECT pg_try_advisory_lock(" + _LOCK_SQL + ")", (agent_id,)).fetchone()
                if not (got and got[0]):
                    continue  # its connection is alive: a stalled agent, not a dead one
                try:
                    count = self.recover(agent_id)
                    conn.execute("UPDATE agent_lease SET released = true WHERE agent_id = %s AND token = %s",
                                 (agent_id, token))
                    log.warning("agent %s (%s, line %s) stopped renewing its lease: recovered %d call(s)",
                                agent_id, node, line, count)
                    self.recovered.append((agent_id, count, float(late_s)))
                    total += count
                finally:
                    conn.execute("SELECT pg_advisory_unlock(" + _LOCK_SQL + ")", (agent_id,))
        return total


class WebProcessTaken(ValueError):
    """Another web process serves this site (explained for the administrator)."""


class WebProcessLock:
    """One web process per site (it runs the site's clocks, reports and the relay's listener): a
    session advisory lock on the site's database, taken at start (refused while another process
    holds it) and taken again whenever the connection is re-established."""

    KEY = 0x6363_0003  # ("cc", 3)

    def __init__(self, url: str, check_every_s: float = 5.0) -> None:
        self.url, self.check_every_s = url, check_every_s
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="web-lock", daemon=True)

    def acquire(self, wait_s: float = 5.0) -> None:
        conn = _connect(self.url)
        deadline = time.monotonic() + wait_s  # a web process that just stopped may linger a moment
        while not self._try(conn):
            if time.monotonic() > deadline:
                conn.close()
                raise WebProcessTaken(
                    "another web process (--role web, or an all-in-one process) already serves this site's "
                    "database; run exactly one per site (docs/DEPLOYMENT.md)")
            time.sleep(0.5)
        self._conn = conn
        self._thread.start()

    def _try(self, conn: psycopg.Connection[Any]) -> bool:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.KEY,)).fetchone()
        return bool(row and row[0])

    def _keep(self) -> None:
        while not self._stop.wait(self.check_every_s):
            try:
                if self._conn is None or self._conn.closed:
                    conn = _connect(self.url)
                    if not self._try(conn):
                        log.error("after a reconnect another web process holds this site's web lock")
                    self._conn = conn
                else:
                    self._conn.execute("SELECT 1")
            except Exception:  # the database is away: try again at the next round
                if self._conn is not None:
                    self._conn.close()
                self._conn = None

    def release(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(5)
        if self._conn is not None:
            self._conn.close()  # the lock goes with the session
            self._conn = None
