"""NotifySettings: strict validation with clear messages, and the dispatcher built from it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from callcenter.notify import Notice, NotifierStats, NotifySettings, WebhookSettings, build_dispatcher
from tests.notify.receiver import Receiver


def hook(**overrides: Any) -> dict[str, Any]:
    return {"name": "前台群", "kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"} | overrides


def error_of(**data: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        NotifySettings.model_validate(data)
    return str(caught.value)


def test_yaml_example_loads() -> None:
    settings = NotifySettings.model_validate(yaml.safe_load("""
panel_base_url: https://kefu.example.com/
webhooks:
  - name: 前台群
    kind: wecom
    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K
  - name: 主管钉钉
    kind: dingtalk
    url: https://oapi.dingtalk.com/robot/send?access_token=T
    secret: SECabc
    min_severity: warning
    kinds: [overdue, urgent, escalation]
    audiences: [supervisor, project_head]
"""))
    assert settings.panel_base_url == "https://kefu.example.com"
    ding = settings.webhooks[1]
    assert ding.secret is not None and ding.secret.get_secret_value() == "SECabc"
    assert "SECabc" not in repr(settings)
    assert ding.notice_filter().kinds == {"overdue", "urgent", "escalation"}
    assert NotifySettings().webhooks == ()


def test_secret_refused_for_other_kinds() -> None:
    message = error_of(webhooks=[hook(secret="SECabc")])
    assert "only used by DingTalk robots" in message
    assert "SECabc" not in message


@pytest.mark.parametrize("url", ["ftp://example.com/x", "qyapi.weixin.qq.com/send?key=K", "https://"])
def test_url_must_be_http_and_is_not_echoed(url: str) -> None:
    message = error_of(webhooks=[hook(url=url)])
    assert "url must be an http:// or https:// address" in message
    assert "key=K" not in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kind": "feishu"}, "'wecom', 'dingtalk' or 'generic'"),
        ({"kinds": ["overdue", "overdo"]}, "unknown notice kind(s) overdo"),
        ({"min_severity": "high"}, "'info', 'warning' or 'critical'"),
        ({"retries": -1}, "greater than or equal to 0"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"token": "x"}, "Extra inputs are not permitted"),
        ({"secret": ""}, "a secret is only used by DingTalk"),
    ],
)
def test_clear_errors(overrides: dict[str, Any], expected: str) -> None:
    assert expected in error_of(webhooks=[hook(**overrides)])


def test_empty_dingtalk_secret_refused() -> None:
    assert "the secret is empty" in error_of(webhooks=[hook(kind="dingtalk", secret="")])


def test_names_unique_and_base_url_checked() -> None:
    assert "repeated: 前台群" in error_of(webhooks=[hook(), hook()])
    assert "panel_base_url must be an http:// or https://" in error_of(panel_base_url="kefu.example.com")


def test_settings_are_frozen() -> None:
    settings = WebhookSettings.model_validate(hook())
    with pytest.raises(ValidationError):
        settings.retries = 5  # type: ignore[misc]


def test_build_dispatcher_routes_to_configured_robots(receiver: Receiver) -> None:
    settings = NotifySettings.model_validate({
        "panel_base_url": "https://kefu.example.com",
        "webhooks": [
            hook(name="all", url=f"{receiver.url}/all?key=1"),
            hook(name="critical-only", url=f"{receiver.url}/critical?key=2", min_severity="critical"),
        ],
    })
    dispatcher = build_dispatcher(settings)
    assert dispatcher.names == ("all", "critical-only")
    dispatcher.publish(Notice("overdue", "warning", "报修超时未派单", "4-2-301 漏水", 7, ("clerk",), link="/#/entries/7"))
    assert dispatcher.close(timeout=5)
    [req] = receiver.requests
    assert req.path == "/all"
    assert "[在客服面板中查看](https://kefu.example.com/#/entries/7)" in req.json()["markdown"]["content"]
    assert dispatcher.stats() == {"all": NotifierStats(sent=1), "critical-only": NotifierStats()}
