"""Group-chat robot webhooks: WeCom (企业微信群机器人), DingTalk (钉钉自定义机器人) and plain JSON.

WeCom and DingTalk answer HTTP 200 even when they refuse a message; the verdict is the JSON
errcode, so both are checked. The robot URL carries its credential (key=, access_token=):
it never appears in logs or error messages, only scheme, host and path do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Literal

import httpx

from callcenter.notify.base import DeliveryError
from callcenter.notify.message import Notice

WebhookKind = Literal["wecom", "dingtalk", "generic"]
WEBHOOK_KINDS: tuple[WebhookKind, ...] = ("wecom", "dingtalk", "generic")
WECOM_MAX_BYTES = 4096  # WeCom refuses markdown content longer than this (UTF-8 bytes)
_WECOM_COLOURS = {"info": "info", "warning": "warning", "critical": "warning"}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not yet URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def panel_url(base_url: str, link: str) -> str:
    """Absolute link into the panel, or '' when either part is missing."""
    if not base_url or not link:
        return ""
    return base_url.rstrip("/") + link


def markdown_lines(notice: Notice, panel_base_url: str, *, colour: bool) -> list[str]:
    label = f"【{notice.severity_label}】"
    if colour:  # WeCom's markdown knows three font colours; DingTalk's does not
        label = f'<font color="{_WECOM_COLOURS[notice.severity]}">{label}</font>'
    lines = [f"### {label}{notice.title}"]
    lines += [line for line in notice.body.splitlines() if line.strip()]
    if notice.entry_id is not None:
        lines.append(f"台账编号：{notice.entry_id}")
    url = panel_url(panel_base_url, notice.link)
    if url:
        lines.append(f"[在客服面板中查看]({url})")
    return lines


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - len("…".encode())].decode(errors="ignore") + "…"


class WebhookNotifier:
    def __init__(
        self,
        name: str,
        kind: WebhookKind,
        url: str,
        *,
        secret: str | None = None,
        panel_base_url: str = "",
        timeout_s: float = 5.0,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        if kind not in WEBHOOK_KINDS:
            raise ValueError(f"unknown webhook kind {kind!r}: use one of {', '.join(WEBHOOK_KINDS)}")
        if secret and kind != "dingtalk":
            raise ValueError("only DingTalk robots take a signing secret")
        self.name = name
        self.kind = kind
        self._url = url
        self._secret = secret
        self._panel_base_url = panel_base_url
        self._now_ms = now_ms
        self._client = httpx.Client(timeout=timeout_s)
        parts = urllib.parse.urlsplit(url)
        self._where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # safe to log: no query, no key

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.name!r}, {self.kind!r}, {self._where!r})"

    def payload(self, notice: Notice) -> dict[str, Any]:
        if self.kind == "wecom":
            content = "\n".join(markdown_lines(notice, self._panel_base_url, colour=True))
            return {"msgtype": "markdown", "markdown": {"content": _truncate_utf8(content, WECOM_MAX_BYTES)}}
        if self.kind == "dingtalk":
            lines = markdown_lines(notice, self._panel_base_url, colour=False)
            if notice.mention_mobiles:  # DingTalk only highlights people named as @mobile in the text
                lines.append(" ".join(f"@{m}" for m in notice.mention_mobiles))
            return {
                "msgtype": "markdown",
                # Single newlines do not break lines in DingTalk markdown; blank lines do.
                "markdown": {"title": f"【{notice.severity_label}】{notice.title}", "text": "\n\n".join(lines)},
                "at": {"atMobiles": list(notice.mention_mobiles), "isAtAll": False},
            }
        return notice.to_json() | {"url": panel_url(self._panel_base_url, notice.link)}

    def request_url(self) -> str:
        if self.kind != "dingtalk" or not self._secret:
            return self._url
        timestamp = self._now_ms()
        sign = urllib.parse.quote_plus(dingtalk_sign(self._secret, timestamp))
        separator = "&" if urllib.parse.urlsplit(self._url).query else "?"
        return f"{self._url}{separator}timestamp={timestamp}&sign={sign}"

    def send(self, notice: Notice) -> None:
        try:
            response = self._client.post(self.request_url(), json=self.payload(notice))
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"{self.kind} webhook {self._where}: no answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.kind} webhook {self._where}: request failed: {type(exc).__name__}: {exc}") from exc
        self._check(response)

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if self.kind == "generic":
            if not response.is_success:
                raise DeliveryError(f"generic webhook {self._where}: HTTP {status}", retryable=_retryable(status))
            return
        if status != 200:
            raise DeliveryError(f"{self.kind} webhook {self._where}: HTTP {status}", retryable=_retryable(status))
        try:
            answer = response.json()
            errcode = answer["errcode"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"{self.kind} webhook {self._where}: answer is not the robot's JSON: "
                                f"{response.text[:200]!r}") from exc
        if errcode != 0:
            # Retried: the robot's limit (20 messages a minute) answers with an errcode, and passes.
            raise DeliveryError(f"{self.kind} webhook {self._where}: errcode {errcode}: {answer.get('errmsg', '')}")

    def close(self) -> None:
        self._client.close()


def _retryable(status: int) -> bool:
    # A wrong URL or a refused payload stays wrong; server errors, timeouts and rate limits pass.
    return status >= 500 or status in (408, 429)
