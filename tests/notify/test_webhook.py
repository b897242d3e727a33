"""WebhookNotifier against a real HTTP receiver on 127.0.0.1: payloads as the robots document them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

import pytest

from callcenter.notify import DeliveryError, Notice, WebhookNotifier
from tests.notify.receiver import Receiver, Reply, dead_url

BASE = "https://kefu.example.com"


def test_wecom_markdown_payload_as_documented(receiver: Receiver, notice: Notice) -> None:
    hook = WebhookNotifier("wecom", "wecom", f"{receiver.url}/cgi-bin/webhook/send?key=abc-123", panel_base_url=BASE)
    hook.send(notice)

    [req] = receiver.requests
    assert req.path == "/cgi-bin/webhook/send"
    assert req.query == {"key": ["abc-123"]}
    assert req.headers["Content-Type"] == "application/json"
    assert req.json() == {
        "msgtype": "markdown",
        "markdown": {
            "content": '### <font color="warning">【紧急】</font>电梯困人 4-2-301\n'
            "4栋2单元电梯困人，业主王先生来电。\n"
            "请安保和工程立即到场。\n"
            "台账编号：12\n"
            "[在客服面板中查看](https://kefu.example.com/#/entries/12)"
        },
    }


def test_dingtalk_markdown_payload_with_mentions(receiver: Receiver, notice: Notice) -> None:
    hook = WebhookNotifier("ding", "dingtalk", f"{receiver.url}/robot/send?access_token=tok", panel_base_url=BASE)
    hook.send(notice)

    [req] = receiver.requests
    assert req.query == {"access_token": ["tok"]}  # no secret: no timestamp/sign
    assert req.json() == {
        "msgtype": "markdown",
        "markdown": {
            "title": "【紧急】电梯困人 4-2-301",
            "text": "### 【紧急】电梯困人 4-2-301\n\n"
            "4栋2单元电梯困人，业主王先生来电。\n\n"
            "请安保和工程立即到场。\n\n"
            "台账编号：12\n\n"
            "[在客服面板中查看](https://kefu.example.com/#/entries/12)\n\n"
            "@13800138000",
        },
        "at": {"atMobiles": ["13800138000"], "isAtAll": False},
    }


def test_dingtalk_signature_verifies(receiver: Receiver, notice: Notice) -> None:
    secret = "SECf00dbabe+/=0123456789abcdef"
    hook = WebhookNotifier("ding", "dingtalk", f"{receiver.url}/robot/send?access_token=tok", secret=secret)
    before = int(time.time() * 1000)
    hook.send(notice)
    after = int(time.time() * 1000)

    [req] = receiver.requests
    query = req.query
    assert query["access_token"] == ["tok"]
    timestamp = int(query["timestamp"][0])
    assert before <= timestamp <= after  # milliseconds, now
    # Recomputed here from DingTalk's description, not with the code under test.
    expected = base64.b64encode(
        hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == [expected]
    assert f"sign={quote_plus(expected)}" in req.raw_query  # url-encoded on the wire


def test_generic_posts_the_notice(receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(204, None)
    WebhookNotifier("ops", "generic", f"{receiver.url}/hook", panel_base_url=BASE).send(notice)
    body = receiver.requests[0].json()
    assert body == {
        "kind": "urgent",
        "severity": "critical",
        "severity_label": "紧急",
        "title": "电梯困人 4-2-301",
        "body": "4栋2单元电梯困人，业主王先生来电。\n请安保和工程立即到场。",
        "entry_id": 12,
        "audience": ["clerk", "supervisor"],
        "link": "/#/entries/12",
        "mention_mobiles": ["13800138000"],
        "url": "https://kefu.example.com/#/entries/12",
        "estate_id": None,  # the estate (项目) of the entry, where there are several
    }


@pytest.mark.parametrize(("severity", "label"), [("info", "通知"), ("warning", "提醒"), ("critical", "紧急")])
def test_severity_in_chinese_and_no_link_without_base_url(severity: str, label: str) -> None:
    n = Notice("missed_call", severity, "未接来电 13900000000", "18:02 来电未接", None, ("clerk",),  # type: ignore[arg-type]
               link="/#/calls/7")
    content = WebhookNotifier("w", "wecom", "http://127.0.0.1:1/x").payload(n)["markdown"]["content"]
    assert f"【{label}】" in content
    assert "](" not in content and "台账编号" not in content  # no base URL, no entry: no such lines


def test_wecom_content_kept_under_4096_bytes() -> None:
    n = Notice("handover", "info", "交接班记录", "未完成事项：楼道灯不亮。\n" * 400, None, ("clerk",))
    content = WebhookNotifier("w", "wecom", "http://127.0.0.1:1/x").payload(n)["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.endswith("…")


def test_errcode_is_a_failure_with_errmsg(receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    hook = WebhookNotifier("wecom", "wecom", f"{receiver.url}/send?key=SECRETKEY")
    with pytest.raises(DeliveryError, match="errcode 93000: invalid webhook url") as caught:
        hook.send(notice)
    assert "SECRETKEY" not in str(caught.value)  # the robot key never reaches logs


def test_http_errors(receiver: Receiver, notice: Notice) -> None:
    hook = WebhookNotifier("ding", "dingtalk", f"{receiver.url}/robot/send")
    receiver.script = [Reply(500, {}), Reply(404, {}), Reply(200, "not the robot")]
    with pytest.raises(DeliveryError, match="HTTP 500") as e500:
        hook.send(notice)
    assert e500.value.retryable
    with pytest.raises(DeliveryError, match="HTTP 404") as e404:
        hook.send(notice)
    assert not e404.value.retryable  # a wrong URL stays wrong
    with pytest.raises(DeliveryError, match="not the robot's JSON"):
        hook.send(notice)


def test_hanging_receiver_times_out(receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(delay_s=10)
    hook = WebhookNotifier("wecom", "wecom", f"{receiver.url}/send", timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="no answer in time"):
        hook.send(notice)
    assert time.monotonic() - started < 3


def test_dead_port_fails_clearly(notice: Notice) -> None:
    with pytest.raises(DeliveryError, match="request failed: ConnectError"):
        WebhookNotifier("wecom", "wecom", dead_url(), timeout_s=2).send(notice)


def test_secret_only_for_dingtalk() -> None:
    with pytest.raises(ValueError, match="only DingTalk"):
        WebhookNotifier("w", "wecom", "http://127.0.0.1:1/x", secret="SEC1")
