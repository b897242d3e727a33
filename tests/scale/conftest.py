"""Fixtures for the multi-process tests: the call bench's prompts and synthesized speech, the Korean
Vosk model, and an empty PostgreSQL schema per test."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.asr.conftest import ko_model_dir  # noqa: F401  (re-exported fixture)
from tests.calls.conftest import prompt_settings, speak  # noqa: F401  (re-exported fixtures)


@pytest.fixture
def pg_clean(pg_url: str) -> str:
    """pg_url with an empty public schema (the cluster is shared by the session's tests)."""
    eng = create_engine(pg_url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()
    return pg_url
