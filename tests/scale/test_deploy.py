"""The deployment files stay consistent with the program: compose services and systemd units run
existing roles, the example configs are valid settings, the agents have their own identities, the
prompts are built before the agents start, and every named volume is mounted on a directory the
image creates for the service user. No container engine runs here (the docker client is installed,
but no daemon and no compose plugin), so these are static checks of the files."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from callcenter.config import Settings

pytestmark = pytest.mark.only_db("sqlite")  # no database: once per full run

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROLES = {"agent", "web", "worker"}


def _role(command: list[str]) -> str:
    assert command[:2] == ["serve", "--role"], command
    return command[2]


def test_compose_runs_every_role_on_postgres_with_shared_recordings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    roles = {name: _role(s["command"]) for name, s in services.items() if s.get("command", [""])[0] == "serve"}
    assert set(roles.values()) == ROLES and list(roles.values()).count("web") == 1
    for name in roles:
        s = services[name]
        assert s["environment"]["CALLCENTER_DATABASE__URL"].startswith("postgresql+psycopg://")
        assert s["environment"]["CALLCENTER_ASR__MODE"] == "queue"
        assert "recordings:/srv/callcenter/recordings" in s["volumes"]
        config = s["command"][s["command"].index("-c") + 1]
        assert (DEPLOY / "config" / Path(config).name).is_file(), config
    agents = [n for n, r in roles.items() if r == "agent"]
    outboxes = {v for n in agents for v in services[n]["volumes"] if v.endswith("/data")}
    assert len(outboxes) == len(agents)  # one outbox volume per agent


def test_example_configs_are_valid_and_agents_differ() -> None:
    sips = []
    for path in sorted((DEPLOY / "config").glob("*.yaml")):
        settings = Settings(**(yaml.safe_load(path.read_text()) or {}))
        assert settings.asr.mode == "queue"
        if path.name.startswith("agent-"):
            sips.append((settings.sip.username, settings.sip.bind_port, settings.sip.rtp_port_low,
                         settings.database.outbox_dir, settings.sip.instance_id))
    assert len(sips) == 2 and all(len({s[i] for s in sips}) == 2 for i in range(5))


def test_systemd_units_run_the_roles() -> None:
    found = {}
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.read_string(unit.read_text())
        exec_start = parser["Service"]["ExecStart"].split()
        found[unit.name] = exec_start[exec_start.index("--role") + 1]
        assert parser["Service"]["Restart"] == "always"
        assert "CALLCENTER_CONFIG=" in parser["Service"]["Environment"]
    assert found == {"callcenter-agent@.service": "agent", "callcenter-web.service": "web",
                     "callcenter-worker@.service": "worker"}


def test_compose_builds_the_prompts_before_the_agents_start() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["prompts"]["command"][:2] == ["prompts", "build"]
    prompts_dir = services["web"]["environment"]["CALLCENTER_PROMPTS__DIR"]
    assert f"prompts:{prompts_dir}" in services["prompts"]["volumes"]
    for name, s in services.items():
        if s.get("command", [""])[:3] == ["serve", "--role", "agent"]:
            assert s["depends_on"]["prompts"]["condition"] == "service_completed_successfully", name
            assert f"prompts:{prompts_dir}:ro" in s["volumes"], name
            assert s["environment"]["CALLCENTER_PROMPTS__DIR"] == prompts_dir


def test_every_named_volume_is_a_directory_the_image_gives_the_service_user() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    run = " ".join(line.strip().rstrip("\\") for line in dockerfile.splitlines())
    assert "chown -R callcenter /var/lib/callcenter /srv/callcenter" in run
    mounted = {v.split(":")[1] for name, s in compose["services"].items() if name != "postgres"
               for v in s.get("volumes", []) if v.split(":")[0] in compose["volumes"]}
    assert mounted
    for target in mounted:
        assert target.startswith(("/var/lib/callcenter/", "/srv/callcenter/")), target
        assert target in run, f"{target} is not created in the Dockerfile (a new volume would be root's)"
