"""Workflow settings: time limits, business hours, callback rates. Defaults from DOMAIN.md.

`CallbackRates` is defined with the sampling rule in ledger.callback_sampling (re-exported here).

Frozen and strict (unknown keys are errors), ready to hang under the global config.
"""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callcenter.ledger.callback_sampling import CallbackRates, CallbackSampling

_STRICT = ConfigDict(extra="forbid", frozen=True)

__all__ = ["CallbackRates", "WorkflowSettings"]


class WorkflowSettings(BaseModel):
    model_config = _STRICT

    register_within_s: int = Field(60, gt=0)  # 一分钟内登记
    dispatch_within_s: int = Field(300, gt=0)  # 5 minutes: technician on site / reply
    urgent_dispatch_within_s: int = Field(120, gt=0)  # urgent (爆水管, 电梯困人): tighter
    callback_within_s: int = Field(7200, gt=0)  # 完成后 2 小时内回访
    urgent_callback_within_s: int = Field(3600, gt=0)
    amber_at: float = Field(0.75, gt=0.0, lt=1.0)  # share of the allowance used before amber
    missed_call_within_s: int = Field(1800, gt=0)  # return a missed call within 30 minutes
    # Still overdue this long after the first alert (to the supervisor): escalate to the project head.
    escalate_after_s: int = Field(1800, gt=0)
    # Shift changes (交接班), local times: the outgoing shift's open items are handed over.
    shift_changes: tuple[time, ...] = (time(8, 0), time(20, 0))

    timezone: str = "Asia/Shanghai"
    business_open: time = time(8, 0)
    business_close: time = time(18, 0)
    business_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0; estates work weekends
    holidays: tuple[date, ...] = ()

    callback_rates: CallbackRates = Field(default_factory=CallbackRates)
    callback_seed: str = "callcenter"  # per site: changes which entries are sampled, not how many

    @field_validator("business_open", "business_close", mode="before")
    @classmethod
    def _time_not_sexagesimal(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 18:00 as the number 1080 (base 60): refuse it, never guess.
        if isinstance(value, int):
            raise ValueError("write the time in quotes, e.g. '18:00' (unquoted YAML reads 18:00 as a number)")
        return value

    @field_validator("shift_changes", mode="before")
    @classmethod
    def _shift_times_not_sexagesimal(cls, value: object) -> object:
        if isinstance(value, list | tuple) and any(isinstance(v, int) for v in value):
            raise ValueError("write each shift time in quotes, e.g. ['08:00', '20:00']")
        return value

    @field_validator("shift_changes")
    @classmethod
    def _shifts(cls, v: tuple[time, ...]) -> tuple[time, ...]:
        if not v:
            raise ValueError("shift_changes: at least one shift change time, e.g. ['08:00', '20:00']")
        return tuple(sorted(set(v)))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Asia/Shanghai") from exc
        return v

    @field_validator("business_weekdays")
    @classmethod
    def _weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d not in range(7) for d in v):
            raise ValueError("business_weekdays: at least one day, each 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _hours(self) -> WorkflowSettings:
        if self.business_open >= self.business_close:
            raise ValueError("business_open must be before business_close (same day)")
        if self.urgent_dispatch_within_s > self.dispatch_within_s:
            raise ValueError("urgent_dispatch_within_s cannot be longer than dispatch_within_s")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def callback_sampling(self) -> CallbackSampling:
        """The sampling rule the ledger (closing) and the callback tasks (opening) both apply."""
        return CallbackSampling(self.callback_rates, self.callback_seed)
