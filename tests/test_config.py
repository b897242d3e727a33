"""config.yaml: the shipped file is the documented defaults; mistakes are explained key by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, Settings, documented_defaults, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_is_the_documented_defaults() -> None:
    assert load_settings(REPO / "config.yaml") == Settings()
    assert (REPO / "config.yaml").read_text(encoding="utf-8").strip() == documented_defaults().strip(), (
        "config.yaml is out of date: regenerate it with `callcenter config defaults > config.yaml`")


@pytest.mark.parametrize(("text", "expected"), [
    ("sip:\n  answer_after_rings: 5\n", "sip.answer_after_rings"),
    ("sip:\n  answr_after_rings: 1\n", "sip.answr_after_rings: unknown setting"),
    ("databse:\n  url: x\n", "databse: unknown setting"),
    ("vad:\n  end_silence_ms: 810\n", "end_silence_ms must be a multiple of 20"),
    ("asr:\n  feed_rate_hz: 11025\n", "asr.feed_rate_hz"),
    ("sip: [1, 2]\n", "sip"),
    ("- just a list\n", "top level must be a mapping"),
    ("sip:\n  port: 'five'\n", "(got 'five')"),
    ("sip: {mode: register\n", "not valid YAML"),
])
def test_mistakes_are_explained(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("database:\n  url: sqlite:///a.db\nsip:\n  mode: direct\n", encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", "postgresql+psycopg://cc@127.0.0.1/cc")
    settings = load_settings(path)
    assert settings.database.url.startswith("postgresql") and settings.sip.mode == "direct"


def test_no_file_named_and_none_here_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CALLCENTER_CONFIG", raising=False)
    assert load_settings() == Settings()


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped -c (or CALLCENTER_CONFIG) must not run the site on the embedded defaults."""
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(tmp_path / "absent.yaml")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(tmp_path / "also-absent.yaml"))
    with pytest.raises(ConfigError, match="also-absent.yaml: no such config file"):
        load_settings()


def test_unquoted_business_hours_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("workflow:\n  business_close: 18:00\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="in quotes"):
        load_settings(path)
    path.write_text("workflow:\n  business_close: '18:30'\n", encoding="utf-8")
    assert load_settings(path).workflow.business_close.minute == 30
