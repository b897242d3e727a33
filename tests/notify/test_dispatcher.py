"""Dispatcher: off-thread delivery, bounded retries, isolation between notifiers, filters, stats."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from callcenter.notify import (
    Dispatcher,
    Notice,
    NoticeFilter,
    NotifierStats,
    RecordingNotifier,
    RetryPolicy,
    WebhookNotifier,
)
from tests.notify.receiver import Receiver, Reply, dead_url

FAST = RetryPolicy(retries=2, backoff_s=0.01)


@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    d = Dispatcher()
    yield d
    d.close(timeout=1)


def wecom(receiver: Receiver, timeout_s: float = 2.0) -> WebhookNotifier:
    return WebhookNotifier("wecom", "wecom", f"{receiver.url}/send?key=k", timeout_s=timeout_s)


def test_errcode_counted_failed_after_configured_retries(dispatcher: Dispatcher, receiver: Receiver,
                                                         notice: Notice) -> None:
    receiver.default = Reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    dispatcher.add(wecom(receiver), retry=FAST)
    dispatcher.publish(notice)
    assert dispatcher.close(timeout=5)
    assert len(receiver.requests) == 3  # 1 + 2 retries, and no more
    assert dispatcher.stats() == {"wecom": NotifierStats(sent=0, failed=1, retried=2)}


def test_server_error_then_success_delivers_once(dispatcher: Dispatcher, receiver: Receiver, notice: Notice) -> None:
    receiver.script = [Reply(500, {"errcode": -1})]
    dispatcher.add(wecom(receiver), retry=FAST)
    dispatcher.publish(notice)
    assert dispatcher.close(timeout=5)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].json() == receiver.requests[1].json()
    assert dispatcher.stats()["wecom"] == NotifierStats(sent=1, failed=0, retried=1)


def test_permanent_http_error_is_not_retried(dispatcher: Dispatcher, receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(404, {})
    dispatcher.add(wecom(receiver), retry=FAST)
    dispatcher.publish(notice)
    assert dispatcher.close(timeout=5)
    assert len(receiver.requests) == 1
    assert dispatcher.stats()["wecom"] == NotifierStats(failed=1)


def test_publish_never_blocks_on_a_slow_robot(receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(delay_s=3)
    dispatcher = Dispatcher()
    dispatcher.add(wecom(receiver, timeout_s=10), retry=RetryPolicy(retries=0))
    started = time.monotonic()
    for _ in range(5):
        dispatcher.publish(notice)
    assert time.monotonic() - started < 0.5
    assert receiver.wait_for(2)  # both workers are delivering meanwhile
    assert not dispatcher.close(timeout=0.1)  # not drained: the robot is still thinking
    assert dispatcher.stats()["wecom"].dropped == 3  # queued behind 2 busy workers, never started


def test_hanging_robot_times_out_and_is_counted(dispatcher: Dispatcher, receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(delay_s=10)
    dispatcher.add(wecom(receiver, timeout_s=0.2), retry=RetryPolicy(retries=1, backoff_s=0.01))
    dispatcher.publish(notice)
    assert dispatcher.close(timeout=5)
    assert len(receiver.requests) == 2
    assert dispatcher.stats()["wecom"] == NotifierStats(failed=1, retried=1)


def test_dead_robot_does_not_stop_the_others(dispatcher: Dispatcher, notice: Notice,
                                             caplog: pytest.LogCaptureFixture) -> None:
    panel = RecordingNotifier("panel")
    dispatcher.add(WebhookNotifier("dead", "dingtalk", dead_url(), timeout_s=1), retry=FAST)
    dispatcher.add(panel)
    dispatcher.publish(notice)
    assert panel.wait_for(1, timeout=5)
    assert dispatcher.close(timeout=5)
    assert panel.notices == (notice,)
    assert dispatcher.stats() == {"dead": NotifierStats(failed=1, retried=2), "panel": NotifierStats(sent=1)}
    assert "notifier dead: gave up on urgent notice" in caplog.text


def test_broken_notifier_never_reaches_the_caller(dispatcher: Dispatcher, notice: Notice) -> None:
    class Broken:
        name = "broken"
        calls = 0

        def send(self, notice: Notice) -> None:
            Broken.calls += 1
            raise TypeError("bug")

    dispatcher.add(Broken(), retry=FAST)
    dispatcher.publish(notice)  # does not raise
    assert dispatcher.close(timeout=5)
    assert Broken.calls == 1  # a bug is not retried
    assert dispatcher.stats()["broken"].failed == 1


def test_filters_by_severity_kind_and_audience(dispatcher: Dispatcher) -> None:
    everything = RecordingNotifier("everything")
    critical = RecordingNotifier("critical")
    handover = RecordingNotifier("handover")
    heads = RecordingNotifier("heads")
    dispatcher.add(everything)
    dispatcher.add(critical, NoticeFilter(min_severity="critical"))
    dispatcher.add(handover, NoticeFilter(kinds=frozenset({"handover"})))
    dispatcher.add(heads, NoticeFilter(min_severity="warning", audiences=frozenset({"project_head"})))

    def n(kind: str, severity: str, audience: tuple[str, ...]) -> Notice:
        return Notice(kind, severity, f"{kind}-{severity}", "", None, audience)  # type: ignore[arg-type]

    notices = [
        n("handover", "info", ("clerk",)),
        n("overdue", "warning", ("clerk", "project_head")),
        n("urgent", "critical", ("supervisor",)),
        n("escalation", "info", ("project_head",)),
    ]
    for x in notices:
        dispatcher.publish(x)
    assert dispatcher.close(timeout=5)
    assert [x.title for x in everything.notices] == [x.title for x in notices]
    assert [x.title for x in critical.notices] == ["urgent-critical"]
    assert [x.title for x in handover.notices] == ["handover-info"]
    assert [x.title for x in heads.notices] == ["overdue-warning"]  # escalation-info is below warning


def test_close_drains_queued_notices(receiver: Receiver, notice: Notice) -> None:
    dispatcher = Dispatcher(workers_per_notifier=1)
    dispatcher.add(wecom(receiver), retry=FAST)
    for _ in range(10):
        dispatcher.publish(notice)
    assert dispatcher.close(timeout=5)
    assert len(receiver.requests) == 10
    assert dispatcher.stats()["wecom"].sent == 10


def test_publish_after_close_or_over_backlog_is_dropped(receiver: Receiver, notice: Notice) -> None:
    receiver.default = Reply(delay_s=3)
    dispatcher = Dispatcher(workers_per_notifier=1, max_pending=2)
    dispatcher.add(wecom(receiver, timeout_s=10), retry=RetryPolicy(retries=0))
    for _ in range(4):
        dispatcher.publish(notice)
    assert dispatcher.stats()["wecom"].dropped == 2
    receiver.release.set()
    assert dispatcher.close(timeout=5)
    dispatcher.publish(notice)  # closed: no exception, just counted
    assert dispatcher.stats()["wecom"] == NotifierStats(sent=2, dropped=3)


def test_names_are_unique(dispatcher: Dispatcher) -> None:
    dispatcher.add(RecordingNotifier("panel"))
    with pytest.raises(ValueError, match="already registered"):
        dispatcher.add(RecordingNotifier("panel"))
