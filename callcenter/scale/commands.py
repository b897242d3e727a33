"""「接听」 and 监听 across processes: the web process sends a panel action on a live call to the
agent process that owns the call (call.agent_id) over PostgreSQL, the reverse of the event relay.

Sending (web process): one transaction inserts the command into `agent_command` and NOTIFYs the
agent's own channel (named from its id) with the row's number. It is sent only while the agent is
alive (lease fresh, advisory lock held: scale/presence.agent_alive); otherwise the panel gets 409.

Why a row and not the NOTIFY alone: a NOTIFY reaches only the sessions listening when it commits.
The agent listens on a connection of its own, so a database restart or a network blip can leave
that connection reconnecting while the agent's lease still says alive; the web process would
answer "ringing" and the 接听 would be lost without a word. The agent reads the rows it has not
claimed after every (re)LISTEN, as the event relay reads event_log. A command older than STALE_S by
then is not run (the clerk has moved on): it is answered like one for a call that ended.

Running (agent process): each command is claimed once (UPDATE ... WHERE taken_at IS NULL), its
fields checked (kind, extension format, the call exists), and run on the agent's own desk. What
happens reaches the panel as `call.person` events through the relay, as in one process: the desk's
'answered', 'unanswered', 'ended', 'listening'; 'refused' when the call is no longer live here.
A malformed payload or row is logged and dropped; the listener goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete

from callcenter.ledger.core import NotFound
from callcenter.ledger.models import AgentCommand
from callcenter.scale.channel import ChannelListener
from callcenter.scale.presence import _connect, agent_alive
from callcenter.staffing.settings import NUMBER_PATTERN

if TYPE_CHECKING:
    import psycopg

    from callcenter.calls.desk import StaffDesk
    from callcenter.ledger.service import LedgerService

log = logging.getLogger(__name__)

KINDS = ("take", "listen")
REASONS = {"take": "takeover", "listen": "listen"}  # the call.person reason of each kind (as calls/desk.py)
STALE_S = 60  # a command found this much later (the agent was reconnecting) is answered, not run
CHANNEL_PREFIX = "callcenter_cmd_"


def channel_of(agent_id: str) -> str:
    """The agent's command channel: a plain identifier under PostgreSQL's 63 bytes, whatever the id."""
    return CHANNEL_PREFIX + hashlib.sha256(agent_id.encode()).hexdigest()[:40]


class AgentGone(LookupError):
    """The agent that owns the call is not running (killed, stopped, or its lease lapsed)."""


class InvalidCommand(ValueError):
    """A command that cannot be run as written (logged and dropped)."""


@dataclass(frozen=True)
class Command:
    id: int
    kind: str  # take / listen
    sip_call_id: str
    extension: str
    asked_by: str  # the panel user who pressed the button
    age_s: float  # since the web process sent it

    def check(self) -> None:
        if self.kind not in KINDS:
            raise InvalidCommand(f"unknown kind {self.kind!r}")
        if not re.match(NUMBER_PATTERN, self.extension):
            raise InvalidCommand(f"extension {self.extension[:40]!r} is not a phone number")
        if not self.sip_call_id or len(self.sip_call_id) > 255:
            raise InvalidCommand("no call id")


def prune(engine: Engine, now: datetime, keep_hours: int = 72) -> int:
    """Drop commands older than `keep_hours` (the web process's hourly job; they are only a trace)."""
    with engine.begin() as conn:
        result = conn.execute(delete(AgentCommand).where(AgentCommand.created_at < now - timedelta(hours=keep_hours)))  # type: ignore[arg-type]
    return int(result.rowcount or 0)


# ----- web process ------------------------------------------------------------------------------

class CommandSender:
    """The web process's side: one command, to the agent that owns the call, or AgentGone."""

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, agent_id: str, kind: str, sip_call_id: str, extension: str, asked_by: str) -> int:
        """Store and NOTIFY in one transaction; the command's number."""
        if kind not in KINDS:
            raise ValueError(kind)
        with _connect(self.url) as conn, conn.transaction():
            if not agent_alive(conn, agent_id):
                raise AgentGone(agent_id)
            row = conn.execute(
                "INSERT INTO agent_command (agent_id, kind, sip_call_id, extension, asked_by, created_at, outcome) "
                "VALUES (%s, %s, %s, %s, %s, now(), '') RETURNING id",
                (agent_id, kind, sip_call_id, extension, asked_by[:64])).fetchone()
            assert row is not None
            command_id = int(row[0])
            conn.execute("SELECT pg_notify(%s, %s)", (channel_of(agent_id), json.dumps({"id": command_id})))
        log.info("%s of call %s (extension %s, by %s) sent to agent %s as command %d", kind, sip_call_id,
                 extension, asked_by, agent_id, command_id)
        return command_id


# ----- agent process ----------------------------------------------------------------------------

class DeskCommands:
    """Runs a command on this agent's desk; the outcome for the command's row."""

    def __init__(self, desk: StaffDesk, ledger: LedgerService, agent_id: str) -> None:
        self.desk, self.ledger, self.agent_id = desk, ledger, agent_id

    def __call__(self, command: Command) -> str:
        try:
            call = self.ledger.call_by_key(command.sip_call_id)
        except NotFound as exc:
            raise InvalidCommand(f"no call {command.sip_call_id[:80]!r}") from exc
        if command.age_s > STALE_S:
            self._refuse(command, f"sent {command.age_s:.0f} s ago")
            return "expired"
        if call.agent_id == self.agent_id and self._ask_desk(command):
            return "run"
        self._refuse(command, "not live on this agent" if call.agent_id == self.agent_id else
                     f"the call belongs to agent {call.agent_id}")
        return "refused"

    def _ask_desk(self, command: Command) -> bool:
        if command.kind == "take":
            return self.desk.request_takeover(command.sip_call_id, command.extension)
        return self.desk.request_listen(command.sip_call_id, command.extension, command.asked_by)

    def _refuse(self, command: Command, why: str) -> None:
        """The panel is told (call.person 'refused', relayed), never left waiting."""
        log.info("command %d (%s of call %s for %s) refused: %s", command.id, command.kind, command.sip_call_id,
                 command.extension, why)
        self.ledger.call_person(command.sip_call_id, "refused", REASONS[command.kind], number=command.extension,
                                username=command.asked_by)


class CommandListener(ChannelListener):
    """The agent's side: LISTENs on its channel, reads what it missed after each (re)connect, and
    runs each command once; `run` returns the outcome stored on the row."""

    def __init__(self, url: str, agent_id: str, run: Callable[[Command], str]) -> None:
        super().__init__(url, channel_of(agent_id), name="agent-commands",
                         application_name="callcenter agent commands")
        self.agent_id, self._run_command = agent_id, run
        # (command, outcome): the latest that ran, for tests and logs (bounded: the agent runs for months)
        self.outcomes: deque[tuple[int, str]] = deque(maxlen=1000)
        self.dropped = 0  # malformed payloads and commands

    def on_listening(self) -> None:
        log.info("agent %s: listening for panel commands", self.agent_id)

    def catch_up(self, conn: psycopg.Connection[Any]) -> None:
        """The commands sent while nobody listened (LISTEN is already on: nothing falls between)."""
        rows = conn.execute("SELECT id FROM agent_command WHERE agent_id = %s AND taken_at IS NULL ORDER BY id",
                            (self.agent_id,)).fetchall()
        for (command_id,) in rows:
            self._take(conn, int(command_id))

    def deliver(self, conn: psycopg.Connection[Any], payload: str) -> None:
        try:
            obj = json.loads(payload)
            command_id = obj["id"]
            if type(command_id) is not int:  # noqa: E721  (bool is an int too)
                raise TypeError(command_id)
        except (ValueError, KeyError, TypeError):
            self.dropped += 1
            log.warning("agent commands: malformed payload %.80r dropped", payload)
            return
        self._take(conn, command_id)

    def _take(self, conn: psycopg.Connection[Any], command_id: int) -> None:
        """Claim the command (once, whoever else reads it), check it, run it, store the outcome."""
        import psycopg

        row = conn.execute(
            "UPDATE agent_command SET taken_at = now() WHERE id = %s AND agent_id = %s AND taken_at IS NULL "
            "RETURNING kind, sip_call_id, extension, asked_by, extract(epoch FROM now() - created_at)",
            (command_id, self.agent_id)).fetchone()
        if row is None:
            self.dropped += 1
            log.warning("agent commands: command %d is not this agent's or already taken; dropped", command_id)
            return
        command = Command(command_id, str(row[0]), str(row[1]), str(row[2]), str(row[3]), float(row[4]))
        try:
            command.check()
            outcome = self._run_command(command)
        except InvalidCommand as exc:
            self.dropped += 1
            outcome = "invalid"
            log.warning("agent commands: command %d dropped: %s", command_id, exc)
        except psycopg.Error:
            raise  # the listener reconnects; the row is claimed, its outcome stays unset
        except Exception:  # a fault in running one command never stops the listener
            self.dropped += 1
            outcome = "invalid"
            log.exception("agent commands: command %d failed", command_id)
        conn.execute("UPDATE agent_command SET outcome = %s WHERE id = %s", (outcome, command_id))
        self.outcomes.append((command_id, outcome))
