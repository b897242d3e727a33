"""The speech model's state on GET /api/system/status (issue 16): with no model, or an incomplete
one, `speech_model` says so in the panel's words — calls take the keypad path — and with a complete
model it is ok. The composition root's own status, as the panel reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from callcenter.app import Application
from callcenter.asr.models import GRAPH_ALTERNATIVES, REQUIRED_FILES
from callcenter.config import Settings


def _settings(tmp_path: Path, model_dir: Path) -> Settings:
    return Settings(database={"url": f"sqlite:///{tmp_path}/cc.db"},  # type: ignore[arg-type]
                    web={"secret_file": str(tmp_path / "secret.key")},  # type: ignore[arg-type]
                    recording={"root": str(tmp_path / "rec")},  # type: ignore[arg-type]
                    asr={"model_dir": str(model_dir)})  # type: ignore[arg-type]


def lay_out_model(model_dir: Path, skip: str = "") -> None:
    """The files Vosk needs, in place (their contents are not read by the check)."""
    for rel in (*REQUIRED_FILES, *GRAPH_ALTERNATIVES[0]):
        if rel != skip:
            (model_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (model_dir / rel).write_bytes(b"x")


@pytest.mark.parametrize("model", ["absent", "incomplete", "complete"])
def test_the_status_says_whether_calls_can_be_heard(tmp_path: Path, model: str) -> None:
    model_dir = tmp_path / "model"
    if model != "absent":
        lay_out_model(model_dir, skip="am/final.mdl" if model == "incomplete" else "")
    app = Application(_settings(tmp_path, model_dir))  # not started: the web side is enough
    try:
        app.accounts.add_user("clerk1", "clerk", "clerk-password", "张敏")
        client = TestClient(app.web_app(), headers={"Authorization": f"Bearer {app.accounts.create_token('clerk1')}"})
        state = client.get("/api/system/status").json()["speech_model"]
    finally:
        app.stop()
    if model == "complete":
        assert state == {"ok": True, "message": "", "detail": ""}
    else:
        assert state["ok"] is False and state["message"] == "语音识别模型缺失：来电改走按键登记"
        assert str(model_dir) in state["detail"] and "callcenter models fetch" in state["detail"]
        if model == "incomplete":
            assert "am/final.mdl" in state["detail"]
