"""The composition root: one builder per role lists that process's components in start order;
stop() stops them in reverse; and the dependencies point one way (checked on the imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from callcenter.app import ROLES, Application, Component
from callcenter.config import Settings

PACKAGE = Path(__file__).resolve().parents[1] / "callcenter"

ALL = ["database", "recordings", "notifier", "workflow", "event journal", "crash recovery", "call outbox", "prompts", "transcriber",
       "draft model", "transcripts owed", "site jobs", "storage jobs", "scheduler", "SIP agent"]
AGENT = ["database", "recordings", "notifier", "workflow", "agent identity and crash recovery", "call outbox",
         "prompts", "transcriber", "draft model", "event forwarder", "no case clocks here", "storage jobs", "live load report",
         "scheduler", "SIP agent", "panel commands"]
WEB = ["database", "recordings", "notifier", "workflow", "one web process per site", "event journal", "event listener", "call outbox", "transcriber",
       "site jobs", "dead agents' calls", "scheduler"]
WORKER = ["database", "recordings", "notifier", "workflow", "transcription queue", "call outbox", "transcriber",
          "draft model", "event forwarder"]


def _settings(tmp_path: Path, url: str, **more: dict) -> Settings:
    return Settings(database={"url": url, "outbox_dir": str(tmp_path / "outbox")},  # type: ignore[arg-type]
                    web={"secret_file": str(tmp_path / "secret.key")},  # type: ignore[arg-type]
                    recording={"root": str(tmp_path / "rec")},  # type: ignore[arg-type]
                    asr={"model_dir": str(tmp_path / "no-model"), **more.get("asr", {})})  # type: ignore[arg-type]


@pytest.mark.only_db("sqlite")
def test_the_all_in_one_process_and_its_order(tmp_path: Path) -> None:
    app = Application(_settings(tmp_path, f"sqlite:///{tmp_path}/cc.db"))
    try:
        assert [c.name for c in app.components] == ALL
        assert set(ROLES) == {"all", "agent", "web", "worker"}
    finally:
        app.stop()  # never started: every component's stop is safe unstarted


@pytest.mark.only_db("postgresql")
def test_each_role_has_its_own_components(tmp_path: Path, pg_url: str) -> None:
    for role, expected, more in (("agent", AGENT, {}), ("web", WEB, {}), ("worker", WORKER, {"asr": {"mode": "queue"}})):
        app = Application(_settings(tmp_path / role, pg_url, **more), role=role)  # type: ignore[arg-type]
        try:
            assert [c.name for c in app.components] == expected, role
        finally:
            app.stop()


@pytest.mark.only_db("sqlite")
def test_components_start_in_order_and_stop_in_reverse(tmp_path: Path) -> None:
    app = Application(_settings(tmp_path, f"sqlite:///{tmp_path}/cc.db"))
    real = app.components
    seen: list[str] = []
    app.components = [Component(n, start=lambda n=n: seen.append(f"+{n}"), stop=lambda n=n: seen.append(f"-{n}"))
                      for n in ("a", "b", "c")]
    app.start()
    app.stop()
    assert seen == ["+a", "+b", "+c", "-c", "-b", "-a"]
    app.components = real
    app.stop()


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _imported_by(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): _imports(p) for p in (PACKAGE / package).rglob("*.py")}


@pytest.mark.parametrize(("package", "forbidden"), [
    ("ledger", ("callcenter.workflow", "callcenter.web", "callcenter.calls", "callcenter.scale", "callcenter.app")),
    ("scale", ("callcenter.app", "callcenter.web")),
    ("drafting", ("callcenter.ledger", "callcenter.calls", "callcenter.web")),
    ("learning", ("callcenter.calls", "callcenter.web", "callcenter.app", "callcenter.workflow")),
    ("recordings", ("callcenter.ledger", "callcenter.calls", "callcenter.web", "callcenter.audio")),
    ("audio", ("callcenter.recordings", "callcenter.ledger", "callcenter.calls")),
    ("workflow", ("callcenter.web", "callcenter.app", "callcenter.calls")),
    ("calls", ("callcenter.web", "callcenter.app", "callcenter.scale")),
])
def test_dependencies_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    wrong = {module: sorted(i for i in imports if i.startswith(forbidden))
             for module, imports in _imported_by(package).items()}
    assert {m: i for m, i in wrong.items() if i} == {}


def test_nothing_imports_the_web_layer_but_the_composition_root() -> None:
    def web(i: str) -> bool:
        return i.startswith("callcenter.web") and i != "callcenter.web.settings"  # config.py holds every setting

    users = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if not p.is_relative_to(PACKAGE / "web") and any(web(i) for i in _imports(p))}
    assert users == {"app.py"}  # the CLI builds the app through callcenter.app
