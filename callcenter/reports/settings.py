"""`reports:` in config.yaml — which reports are generated on schedule, and where they go."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

ScheduledReport = Literal["monthly", "weekly", "unfinished", "complaints"]


class ReportSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    out_dir: Path = Path("reports")  # files land in out_dir/<kind>/<period>.xlsx|.html
    reports: tuple[ScheduledReport, ...] = ("monthly", "weekly", "unfinished", "complaints")
    timezone: str = "Asia/Shanghai"  # the site's calendar: months, weeks and the 27th are local
    hour: int = Field(default=6, ge=0, le=23)  # local hour the jobs run (before the morning shift)
    complaint_timely_hours: int = Field(default=24, ge=1)  # 处理及时: handled within this many hours

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)  # fail at load time, not at 06:00 on the 1st
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown timezone {v!r}") from exc
        return v
