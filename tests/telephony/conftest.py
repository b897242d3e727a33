from tests.calls.conftest import prompt_settings  # noqa: F401  (serve tests need built prompts)
