"""Notices for on-duty staff: in the panel and through group-chat robots (WeCom, DingTalk, generic)."""

from callcenter.notify.base import (
    DeliveryError,
    Dispatcher,
    NoticeFilter,
    Notifier,
    NotifierStats,
    RecordingNotifier,
    RetryPolicy,
)
from callcenter.notify.message import KINDS, SEVERITY_LABELS, Notice, Severity
from callcenter.notify.settings import NotifySettings, WebhookSettings, build_dispatcher
from callcenter.notify.webhook import WebhookNotifier, dingtalk_sign

__all__ = [
    "KINDS",
    "SEVERITY_LABELS",
    "DeliveryError",
    "Dispatcher",
    "Notice",
    "NoticeFilter",
    "Notifier",
    "NotifierStats",
    "NotifySettings",
    "RecordingNotifier",
    "RetryPolicy",
    "Severity",
    "WebhookNotifier",
    "WebhookSettings",
    "build_dispatcher",
    "dingtalk_sign",
]
