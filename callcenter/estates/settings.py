"""config.yaml's `estates:` list: one item per estate (项目) the customer-service centre serves.

No `estates:` section means one estate made from the existing settings (prompts.estate_name,
drafting.rules_file), so a single-estate site changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.staffing.settings import RosterMember

CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"


def number_key(number: str) -> str:
    """How hotline numbers are compared: a telephone number by its digits (a DID written
    0571-8888 1234 is the Request-URI user 057188881234), any other SIP user by its lower case."""
    text = number.strip()
    if text and all(ch.isdigit() or ch in "+-() " for ch in text):
        return "".join(ch for ch in text if ch.isdigit())
    return text.lower()


class EstateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=CODE_PATTERN,
                      description="Short stable identifier (lower-case letters, digits, - and _), e.g. xfjy. "
                                  "Data is kept by it: do not rename an estate's code once calls came in.")
    name: str = Field(min_length=1, max_length=40,
                      description="The estate's name, shown in the panel and spoken in its greeting.")
    numbers: list[str] = Field(default_factory=list,
                               description="Its hotline numbers: the DIDs or SIP user parts a caller dials "
                                           "(Request-URI user, else To user; or the agent's line).")
    greeting: str = Field("", max_length=200,
                          description="Greeting wording for this estate; {estate} is its name. Empty: the "
                                      "site's greeting (prompts.texts.greeting or the default) with this name.")
    rules_file: Path | None = Field(None, description="Drafting rules file of this estate (departments, "
                                                      "keywords); empty: drafting.rules_file.")

    business_open: time | None = Field(None, description="This estate's opening time ('08:30'); empty: "
                                                          "workflow.business_open. The case clocks count its hours.")
    business_close: time | None = Field(None, description="Its closing time; empty: workflow.business_close.")
    business_weekdays: tuple[int, ...] | None = Field(None, description="Its working weekdays (Monday = 0); "
                                                                        "empty: workflow.business_weekdays.")
    holidays: tuple[date, ...] | None = Field(None, description="Its holidays; empty: workflow.holidays.")
    duty_roster: tuple[RosterMember, ...] | None = Field(
        None, description="Who is rung for this estate's urgent calls and outside its business hours (its guard "
                          "room, its duty engineer); empty: transfer.duty_roster.")
    robots: list[str] = Field(default_factory=list,
                              description="Names of notify.webhooks robots that are this estate's: they get "
                                          "its notices only. A robot no estate names gets every notice.")

    @field_validator("business_open", "business_close", mode="before")
    @classmethod
    def _time_not_sexagesimal(cls, value: object) -> object:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 18:00 as 1080
            raise ValueError("write the time in quotes, e.g. '18:00' (unquoted YAML reads 18:00 as a number)")
        return value

    def hours(self) -> dict[str, Any]:
        """The business-hour settings this estate sets itself (over the site's `workflow:`)."""
        keys = ("business_open", "business_close", "business_weekdays", "holidays")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    @field_validator("numbers")
    @classmethod
    def _numbers_usable(cls, numbers: list[str]) -> list[str]:
        for n in numbers:
            if not number_key(n):
                raise ValueError(f"hotline number {n!r} is empty once spaces and dashes are removed")
        keys = [number_key(n) for n in numbers]
        dup = sorted({n for n in keys if keys.count(n) > 1})
        if dup:
            raise ValueError(f"hotline number(s) {', '.join(dup)} listed twice")
        return numbers


def robots_of(estates: list[EstateSettings], ids: Mapping[str, int]) -> dict[str, frozenset[int]]:
    """Robot name -> the ids of the estates that name it (`ids`: estate code -> id)."""
    out: dict[str, set[int]] = {}
    for e in estates:
        for robot in e.robots:
            if e.code in ids:
                out.setdefault(robot, set()).add(ids[e.code])
    return {name: frozenset(v) for name, v in out.items()}


def check_estates(estates: list[EstateSettings], site_workflow: Any = None,
                  robots: Collection[str] | None = None) -> list[str]:
    """Problems across the list, each a sentence naming the key (empty when the list is sound).
    `site_workflow`: the site's WorkflowSettings, which an estate's business hours override;
    `robots`: the names of notify.webhooks."""
    problems: list[str] = []
    if robots is not None:
        for i, e in enumerate(estates):
            unknown = [r for r in e.robots if r not in robots]
            if unknown:
                problems.append(f"estates.{i}.robots: {', '.join(unknown)} is not the name of a robot in "
                                f"notify.webhooks (names: {', '.join(robots) or 'none configured'})")
    if site_workflow is not None:
        for i, e in enumerate(estates):
            if e.hours():
                try:
                    site_workflow.model_validate({**site_workflow.model_dump(), **e.hours()})
                except ValueError as exc:
                    problems.append(f"estates.{i} ({e.code}) business hours: "
                                    f"{'; '.join(err['msg'] for err in getattr(exc, 'errors', lambda: [])())}")
    seen_code: dict[str, int] = {}
    seen_number: dict[str, str] = {}
    for i, e in enumerate(estates):
        if e.code in seen_code:
            problems.append(f"estates.{i}.code: {e.code!r} is already the code of estates.{seen_code[e.code]}")
        seen_code.setdefault(e.code, i)
        for n in e.numbers:
            other = seen_number.get(number_key(n))
            if other is not None and other != e.code:
                problems.append(f"estates.{i}.numbers: {n!r} is already a number of estate {other!r}; "
                                f"a dialled number must select one estate")
            seen_number.setdefault(number_key(n), e.code)
        if e.rules_file is not None and not Path(e.rules_file).is_file():
            problems.append(f"estates.{i}.rules_file: {e.rules_file} does not exist")
    if len(estates) > 1:
        unnumbered = [e.code for e in estates[1:] if not e.numbers]
        if unnumbered:
            problems.append(f"estates: {', '.join(unnumbered)} ha(s) no numbers, so no call could reach "
                            f"it; only the first estate (the default) may have none")
    return problems
