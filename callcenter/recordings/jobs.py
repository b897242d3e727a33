"""The interval jobs of the storage package, for whichever process records calls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from callcenter.events import EventBus
from callcenter.recordings.disk_monitor import DiskMonitor, Poster


def register_storage_jobs(scheduler: Any, recordings: Any, settings: Any, database_url: str,
                          bus: EventBus | None, notices: Poster | None) -> DiskMonitor:
    """Disk-space alarm every `recording.disk_check_s` (first check at once), and with the s3
    backend the upload retry / cache eviction every `recording.storage.retry_interval_s`.
    `recordings` is the WavRecordingStore, `settings` its RecordingSettings."""
    monitor = DiskMonitor.for_app(settings.root, settings.min_free_mb, database_url, bus, notices)
    scheduler.add_job(monitor.check, "interval", seconds=settings.disk_check_s, id="disk_space",
                      replace_existing=True, max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))
    if settings.storage.backend == "s3":
        scheduler.add_job(recordings.sync, "interval", seconds=settings.storage.retry_interval_s,
                          id="recordings_sync", replace_existing=True, max_instances=1, coalesce=True)
    return monitor
