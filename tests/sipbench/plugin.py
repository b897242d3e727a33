"""pytest fixtures of the loopback SIP bench. Import into a conftest:

    from tests.sipbench.plugin import *  # noqa: F403

Fixtures: `kamailio` (session), `agent_factory` (starts PyVoipAgents registered at
that kamailio, stopped after the test), `bench_dir` (a tmp dir per test).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callcenter.telephony.agent import PyVoipAgent
from callcenter.telephony.interface import CallHandler
from callcenter.telephony.settings import SipSettings
from tests.sipbench.kamailio import Kamailio
from tests.sipbench.tools import LOOPBACK, free_udp_block, free_udp_port

__all__ = ["kamailio", "agent_factory", "bench_dir", "AgentFactory"]

_usernames = itertools.count(1)
AgentFactory = Callable[..., tuple[PyVoipAgent, SipSettings]]


@pytest.fixture(scope="session")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    with Kamailio(tmp_path_factory.mktemp("kamailio")) as proxy:
        yield proxy


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def agent_factory(kamailio: Kamailio) -> Iterator[AgentFactory]:
    """make(handler, **settings_overrides) -> (started agent, its settings).

    Each agent registers under its own username (hotline-N) at the session's kamailio,
    so tests never receive each other's calls."""
    agents: list[PyVoipAgent] = []

    def make(handler: CallHandler, **overrides: Any) -> tuple[PyVoipAgent, SipSettings]:
        rtp_low = free_udp_block(120)
        values: dict[str, Any] = {
            "server": LOOPBACK,
            "port": kamailio.port,
            "username": f"hotline-{next(_usernames)}",
            "bind_ip": LOOPBACK,
            "bind_port": free_udp_port(),
            "rtp_port_low": rtp_low,
            "rtp_port_high": rtp_low + 119,
            "answer_after_rings": 1,
            "ring_period_s": 0.3,
        }
        values.update(overrides)
        settings = SipSettings(**values)
        agent = PyVoipAgent(settings, handler)
        agent.start()
        agents.append(agent)
        if settings.mode == "register" and not agent.registered:
            raise RuntimeError(f"agent did not register at kamailio:{kamailio.port}:\n{kamailio.log_tail()}")
        return agent, settings

    yield make
    for agent in agents:
        agent.stop()
