"""The reports the seeds ask for, generated on schedule (APScheduler 3 cron jobs in the site's
timezone) into out_dir/<kind>/<period>.xlsx|.html:

- monthly statistics on the 1st, for the previous month;
- hot complaint topics every Monday, for the previous ISO week;
- the unfinished list on the 1st and 16th, for the half-month just ended;
- complaint statistics on the 27th, for the complaint month 27th..26th just ended.

A job always reports on the period before the one containing its run time, so a late or
repeated run (misfire, restart, manual trigger) rewrites the same files instead of adding new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from callcenter.clock import Clock
from callcenter.drafting.terms import SiteTerms
from callcenter.reports import documents, export
from callcenter.reports.periods import containing
from callcenter.reports.settings import ReportSettings

log = logging.getLogger(__name__)
Notify = Callable[[str, Path], object]
# kind -> cron fields (local time of the site)
CRON: dict[str, dict[str, str]] = {
    "monthly": {"day": "1"},
    "weekly": {"day_of_week": "mon"},
    "unfinished": {"day": "1,16"},
    "complaints": {"day": "27"},
}


def run_report(kind: str, engine: Engine, settings: ReportSettings, clock: Clock, out_dir: Path,
               notify: Notify | None = None, terms: SiteTerms | None = None) -> tuple[Path, Path]:
    """Generate one scheduled report for the period just ended (as of clock.now()) and write it."""
    now = clock.now()
    period = containing(documents.PERIOD_KIND[kind], now, settings.timezone).previous()
    doc = documents.build(kind, engine, period, now,
                          complaint_limit=timedelta(hours=settings.complaint_timely_hours), terms=terms)
    xlsx, html = export.write_files(doc, out_dir)
    log.info("report %s %s written: %s", kind, period.key, xlsx)
    if notify is not None:
        try:
            notify(doc.heading, xlsx)
        except Exception:  # a failed message must not lose the report; it is on disk
            log.exception("report %s: notify failed", kind)
    return xlsx, html


def register_report_jobs(scheduler: Any, engine: Engine, settings: ReportSettings, clock: Clock,
                         out_dir: Path, notify: Notify | None = None, terms: SiteTerms | None = None) -> list[str]:
    """Add one cron job per enabled report (ids "report:<kind>", replacing any earlier ones);
    returns the job ids. Nothing is added when `settings.enabled` is false."""
    if not settings.enabled:
        return []
    ids = []
    for kind in settings.reports:
        trigger = CronTrigger(hour=settings.hour, minute=0, timezone=settings.timezone, **CRON[kind])
        job_id = f"report:{kind}"
        if scheduler.get_job(job_id) is not None:  # replace_existing only acts once the scheduler runs
            scheduler.remove_job(job_id)
        scheduler.add_job(run_report, trigger, id=job_id, name=f"报表 {documents.TITLES[kind]}",
                          args=(kind, engine, settings, clock, out_dir, notify, terms), replace_existing=True,
                          coalesce=True, max_instances=1, misfire_grace_time=6 * 3600)
        ids.append(job_id)
    return ids
