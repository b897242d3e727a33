"""The whole call pipeline (agent, recorder, ledger) for the live fuzz test, shared with tests/calls."""

from tests.calls.conftest import pipeline_factory, prompt_settings  # noqa: F401  (fixtures)
