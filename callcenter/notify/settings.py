"""Notification settings: which robots get which notices. Hangs under the global config as `notify:`.

Frozen and strict (unknown keys are errors), like the workflow settings.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from callcenter.notify.base import Dispatcher, NoticeFilter, RetryPolicy
from callcenter.notify.message import KINDS, Severity
from callcenter.notify.webhook import WebhookKind, WebhookNotifier

# Errors name the field and the reason but never echo the input: robot URLs and secrets are credentials.
_STRICT = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _http_url(value: str, what: str) -> str:
    # The URL itself is not echoed: a robot's query string carries its key.
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http:// or https:// address with a host "
                         f"(got scheme {parts.scheme!r}, host {parts.hostname!r})")
    return value


class WebhookSettings(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1)  # shown in logs and stats, unique
    kind: WebhookKind
    url: str
    secret: SecretStr | None = None  # DingTalk 加签 secret (SEC...); hidden from repr and logs
    min_severity: Severity = "info"
    kinds: tuple[str, ...] = ()  # empty = every kind
    audiences: tuple[str, ...] = ()  # empty = every audience
    timeout_s: float = Field(5.0, gt=0, le=60)
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(1.0, ge=0, le=60)  # first wait between attempts; doubles each time

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v, "url")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in v if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown notice kind(s) {', '.join(unknown)}: use {', '.join(KINDS)}")
        return v

    @model_validator(mode="after")
    def _secret_only_for_dingtalk(self) -> WebhookSettings:
        if self.secret is not None and self.kind != "dingtalk":
            raise ValueError(f"webhook {self.name!r}: a secret is only used by DingTalk robots (kind: dingtalk), "
                             f"not by {self.kind}; remove it")
        if self.secret is not None and not self.secret.get_secret_value():
            raise ValueError(f"webhook {self.name!r}: the secret is empty; remove it or paste the SEC... value")
        return self

    def notice_filter(self) -> NoticeFilter:
        return NoticeFilter(self.min_severity, frozenset(self.kinds), frozenset(self.audiences))

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(retries=self.retries, backoff_s=self.backoff_s)


class NotifySettings(BaseModel):
    model_config = _STRICT

    panel_base_url: str = ""  # e.g. https://kefu.example.com; links in messages are left out when empty
    webhooks: tuple[WebhookSettings, ...] = ()
    workers_per_notifier: int = Field(2, ge=1, le=16)

    @field_validator("panel_base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return _http_url(v, "panel_base_url").rstrip("/") if v else v

    @field_validator("webhooks")
    @classmethod
    def _unique_names(cls, v: tuple[WebhookSettings, ...]) -> tuple[WebhookSettings, ...]:
        names = [w.name for w in v]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"webhook names must be unique; repeated: {', '.join(duplicates)}")
        return v


def build_dispatcher(settings: NotifySettings, estate_robots: Mapping[str, frozenset[int]] | None = None) -> Dispatcher:
    """A dispatcher with one WebhookNotifier per configured robot; add the panel's notifier to it.
    `estate_robots`: robot name -> the estates whose robot it is (it gets only their notices)."""
    dispatcher = Dispatcher(workers_per_notifier=settings.workers_per_notifier)
    for hook in settings.webhooks:
        notifier = WebhookNotifier(
            hook.name,
            hook.kind,
            hook.url,
            secret=hook.secret.get_secret_value() if hook.secret else None,
            panel_base_url=settings.panel_base_url,
            timeout_s=hook.timeout_s,
        )
        wanted = hook.notice_filter()
        if estate_robots and hook.name in estate_robots:
            wanted = dataclasses.replace(wanted, estates=estate_robots[hook.name])
        dispatcher.add(notifier, wanted, hook.retry_policy())
    return dispatcher
