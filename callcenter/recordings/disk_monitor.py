"""Disk-nearly-full alarm for the recordings disk and the SQLite database's disk.

Checked on an interval (APScheduler job). Only a change of state is reported, never every
tick: one log line (WARNING when low, ERROR when critical, INFO when it recovers), one
`system.alarm` event for open panels, and one notice (the panel's bell, clerks and
supervisors, in Chinese). The event goes out before the notice row: when the database shares
the full disk the row may fail to be written, the event and the log line still get through.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from sqlalchemy.engine import make_url

from callcenter.events import DiskAlarm, EventBus

log = logging.getLogger(__name__)

Level = Literal["ok", "low", "critical"]
_MB = 1024 * 1024
_CLEAR_MARGIN = 1.1  # clear only 10% above the threshold, so a disk hovering at it does not flap
_CRITICAL_SHARE = 0.25  # below a quarter of the threshold the alarm turns critical


class Poster(Protocol):
    def post(self, kind: str, title: str, body: str = "", *, severity: str = "info",
             audience: tuple[str, ...] = ("clerk",), entry_id: int | None = None) -> int: ...


@dataclass(frozen=True)
class Watch:
    name: str  # shown to people: 录音磁盘 / 数据库磁盘
    path: Path
    min_free_mb: float


@dataclass(frozen=True)
class DiskState:
    watch: Watch
    free_mb: float
    level: Level


def free_mb(path: Path) -> float:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # not created yet: the disk it will be created on
    return shutil.disk_usage(probe).free / _MB


def sqlite_dir(url: str) -> Path | None:
    """Directory of a file-based SQLite database, None for anything else."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve().parent


class DiskMonitor:
    def __init__(self, watches: list[Watch], bus: EventBus | None = None, notices: Poster | None = None,
                 usage: Callable[[Path], float] = free_mb) -> None:
        self.watches = watches
        self.bus, self.notices, self._usage = bus, notices, usage
        self._levels: dict[str, Level] = {w.name: "ok" for w in watches}

    @classmethod
    def for_app(cls, recordings_root: Path, min_free_mb: float, database_url: str,
                bus: EventBus | None, notices: Poster | None) -> DiskMonitor:
        watches = [Watch("录音磁盘", Path(recordings_root), min_free_mb)]
        db_dir = sqlite_dir(database_url)
        if db_dir is not None:
            watches.append(Watch("数据库磁盘", db_dir, min_free_mb))
        return cls(watches, bus, notices)

    def level(self, name: str) -> Level:
        return self._levels[name]

    def check(self) -> list[DiskState]:
        """One round (the interval job). Never raises: a failing check is logged."""
        states = []
        for watch in self.watches:
            try:
                free = self._usage(watch.path)
            except OSError as exc:
                log.error("cannot check free space of %s (%s): %s", watch.name, watch.path, exc)
                continue
            level = self._classify(watch, free)
            states.append(DiskState(watch, free, level))
            if level != self._levels[watch.name]:
                previous, self._levels[watch.name] = self._levels[watch.name], level
                self._report(watch, free, level, previous)
        return states

    def _classify(self, watch: Watch, free: float) -> Level:
        current = self._levels[watch.name]
        if free < watch.min_free_mb * _CRITICAL_SHARE:
            return "critical"
        if free < watch.min_free_mb:
            return "low"
        if current != "ok" and free < watch.min_free_mb * _CLEAR_MARGIN:
            return "low"
        return "ok"

    def _report(self, watch: Watch, free: float, level: Level, previous: Level) -> None:
        if level == "ok":
            log.info("%s (%s) has space again: %.0f MB free", watch.name, watch.path, free)
            title = f"{watch.name}空间已恢复：剩余 {_mb(free)} MB"
            body, severity = f"位置：{watch.path}。录音与台账写入恢复正常。", "info"
        else:
            log.log(logging.ERROR if level == "critical" else logging.WARNING,
                    "%s (%s) nearly full: %.1f MB free, alarm threshold %.0f MB; calls are still answered, "
                    "recordings may stop. Free space or move the recordings to a larger disk",
                    watch.name, watch.path, free, watch.min_free_mb)
            title = f"{watch.name}空间不足：剩余 {_mb(free)} MB"
            body = (f"位置：{watch.path}，告警阈值 {watch.min_free_mb:.0f} MB。来电仍会接听并登记，"
                    "但录音可能中断。请尽快清理磁盘或联系管理员扩容。")
            severity = "critical" if level == "critical" else "warning"
        if self.bus is not None:
            self.bus.publish(DiskAlarm(disk=watch.name, path=str(watch.path), level=level, previous=previous,
                                       free_mb=round(free, 1), min_free_mb=watch.min_free_mb, title=title))
        if self.notices is not None:
            try:
                self.notices.post("disk_space", title, body, severity=severity, audience=("clerk", "supervisor"))
            except Exception as exc:  # the database may be on the full disk: the log and event stand
                log.error("disk alarm notice not stored (%s): %s", exc, title)


def _mb(free: float) -> str:
    # "剩余 0 MB" while half a megabyte is left would mislead: one decimal on small figures
    return f"{free:.1f}" if free < 10 else f"{free:.0f}"
