"""The ring group and the duty roster (config.yaml `transfer:`).

One plain section: a site with several estates can later key it per estate without changing it.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NUMBER_PATTERN = r"^[0-9A-Za-z+*#._-]{1,32}$"  # an extension ("8001") or a number through the trunk
_SHIFT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_shift(text: str) -> tuple[time, time | None]:
    """"08:00-18:00" -> (08:00, 18:00); "24:00" as the end means midnight (None)."""
    m = _SHIFT.match(text)
    if m is None:
        raise ValueError(f"shift {text!r} is not HH:MM-HH:MM (e.g. 08:00-18:00, 22:00-08:00 overnight)")
    start = time(int(m[1]), int(m[2]))
    end = None if (m[3], m[4]) == ("24", "00") else time(int(m[3]) % 24, int(m[4]))
    if m[3] == "24" and m[4] != "00":
        raise ValueError(f"shift {text!r}: the end 24:xx can only be 24:00")
    return start, end


def in_shift(text: str, at: time) -> bool:
    start, end = parse_shift(text)
    if end is None:
        return at >= start
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # overnight: 22:00-08:00


class RosterMember(BaseModel):
    """Someone on the duty roster (保安室, 值班工程师): rung outside business hours and for urgent calls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=32, description="Who it is, as the audit log shows it (保安室)")
    number: str = Field(pattern=NUMBER_PATTERN, description="Extension, or a number reached through the trunk")
    shifts: tuple[str, ...] = Field(("00:00-24:00",), min_length=1,
                                    description="Local times on duty, HH:MM-HH:MM (22:00-08:00 runs overnight)")

    @field_validator("shifts")
    @classmethod
    def _valid_shifts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for shift in v:
            parse_shift(shift)
        return v

    def on_duty(self, at: time) -> bool:
        return any(in_shift(s, at) for s in self.shifts)


class TransferSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Callers may ask for a person (the person key or 人工/转人工/找客服/找人)")
    strategy: Literal["simultaneous", "in_turn"] = Field(
        "simultaneous", description="Ring everyone at once (first answer wins), or one after the other")
    ring_timeout_s: float = Field(20.0, ge=3, le=120, description="No answer within this: back to message-taking "
                                                                  "with an apology, and a callback task")
    ring_each_s: float = Field(10.0, ge=3, le=60, description="in_turn: how long each phone rings")
    extensions: tuple[str, ...] = Field(
        (), description="Extensions always in the business-hours group, besides the clerks marked 在岗 in the panel")
    duty_roster: tuple[RosterMember, ...] = Field(
        (), description="Rung outside business hours (workflow.business_open/close) and for urgent calls, e.g. "
                        "[{name: 保安室, number: '8001', shifts: ['18:00-08:00']}, {name: 值班工程师, "
                        "number: '13800000000'}]")
    urgent_ring: bool = Field(True, description="Urgent calls ring the duty roster at once")
    urgent_connect: Literal["bridge", "summary"] = Field(
        "bridge", description="bridge: the caller is connected as soon as the duty person answers; summary: the "
                              "duty person first hears 「紧急来电…按1接通来电人」 and presses 1")
    summary_answer_s: float = Field(15.0, ge=3, le=60, description="summary: how long the duty person has to press 1")

    @field_validator("extensions")
    @classmethod
    def _numbers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [n for n in v if not re.match(NUMBER_PATTERN, n)]
        if bad:
            raise ValueError(f"extensions: {bad} are not extensions (digits, letters, + * # . _ -; at most 32)")
        return v
