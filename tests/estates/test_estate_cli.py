"""The estates' commands as a site administrator runs them: users assigned to estates, the
directory imported per estate, the estate greetings built offline, the configuration checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.clock import SystemClock
from callcenter.estates.directory import load_estates
from callcenter.estates.scope import assigned_estates
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.service import LedgerService
from tests.cli_runner import cli

CONFIG = """database:
  url: {db_url}
asr:
  model_dir: {tmp}/models/m
prompts:
  dir: {tmp}/prompts
  texts: {{greeting: '您好，{{estate}}物业。'}}
estates:
- {{code: xfjy, name: 幸福家园, numbers: ['8001']}}
- {{code: hyhf, name: 和园华府, numbers: ['8002'], greeting: '{{estate}}客服，您好。'}}
"""


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG.format(db_url=db_url, tmp=tmp_path), encoding="utf-8")
    return tmp_path


def test_estate_commands(site: Path, db_url: str) -> None:
    check = cli(site, "config", "check")
    assert check.returncode == 0 and "estate hyhf 和园华府: numbers 8002" in check.stdout, check.stderr
    assert cli(site, "users", "add", "wang", "--role", "clerk", stdin="secret-pass\n").returncode == 0
    assigned = cli(site, "users", "estates", "wang", "hyhf")
    assert assigned.returncode == 0 and "和园华府" in assigned.stdout, assigned.stderr
    wrong = cli(site, "users", "estates", "wang", "nope")
    assert wrong.returncode == 2 and "no estate with code 'nope'" in wrong.stderr
    engine = db.make_engine(db_url)
    estates = load_estates(engine)
    hyhf = estates.by_code("hyhf")
    assert hyhf is not None
    from sqlmodel import Session, select

    from callcenter.ledger.models import User
    with Session(engine) as s:
        wang = s.exec(select(User).where(User.username == "wang")).one()
    assert wang.id is not None and assigned_estates(engine, wang.id) == {hyhf.id}

    (site / "res.csv").write_text("unit,name,phones\n4-2-301,李秀英,13700137000\n", encoding="utf-8")
    unsure = cli(site, "residents", "import", "res.csv")
    assert unsure.returncode == 2 and "--estate" in unsure.stderr  # several estates: say which
    assert cli(site, "residents", "import", "res.csv", "--estate", "hyhf").returncode == 0
    ledger = LedgerService(engine, SystemClock(), EventBus(), estates=estates)
    assert ledger.resident_for_number("13700137000", hyhf.id) is not None
    assert ledger.resident_for_number("13700137000", estates.default.id) is None

    built = cli(site, "prompts", "build")
    assert built.returncode == 0, built.stderr
    for code in ("xfjy", "hyhf"):
        folder = site / "prompts" / "estates" / code
        assert sorted(p.name for p in folder.glob("*.wav")) == ["greeting.wav", "missed_callback.wav"]
    # a studio recording put in an estate's folder is kept by the next build
    (site / "prompts" / "estates" / "hyhf" / "greeting.wav").write_bytes(
        (site / "prompts" / "greeting.wav").read_bytes())
    again = cli(site, "prompts", "build")
    assert again.returncode == 0 and "1 site recording(s) kept" in again.stdout
    engine.dispose()
