"""The estates of this installation: config.yaml's list matched to the `estate` rows.

The first estate of the list is the default: calls to a number no estate lists, and everything
that existed before estates (migration 0009 put it in row 1), belong to it. Row 1 is created by
the migration with the code `default`; the first configured estate claims it once (its code
replaces `default`), after which rows are matched by code, so reordering the list or adding an
estate never moves data between estates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from callcenter.clock import Clock
from callcenter.estates.settings import EstateSettings, number_key
from callcenter.ledger.models import Estate as EstateRow

DEFAULT_ESTATE_ID = 1
DEFAULT_CODE = "default"


@dataclass(frozen=True)
class Estate:
    id: int
    code: str
    name: str
    numbers: tuple[str, ...] = ()
    greeting: str = ""
    rules_file: Path | None = None
    active: bool = True
    hours: Mapping[str, Any] = field(default_factory=dict)  # its business hours over the site's
    duty_roster: tuple[Any, ...] | None = None  # its own RosterMembers; None: the site's transfer.duty_roster


class Estates:
    """Lookup of estates by the number dialled, by id and by code. Immutable after start."""

    def __init__(self, estates: Sequence[Estate], default_id: int = DEFAULT_ESTATE_ID) -> None:
        if not estates:
            raise ValueError("an installation has at least one estate")
        self._all = list(estates)
        self._by_id = {e.id: e for e in estates}
        self._by_code = {e.code: e for e in estates}
        self.default = self._by_id.get(default_id, self._all[0])
        self._by_number = {number_key(n): e for e in estates if e.active for n in e.numbers}

    @classmethod
    def single(cls, name: str = "") -> Estates:
        """One default estate (tools and tests that know nothing of estates)."""
        return cls([Estate(id=DEFAULT_ESTATE_ID, code=DEFAULT_CODE, name=name)])

    def all(self) -> list[Estate]:
        return list(self._all)

    def active(self) -> list[Estate]:
        return [e for e in self._all if e.active]

    @property
    def several(self) -> bool:
        """More than one estate: the panel shows estates only then."""
        return len(self._all) > 1

    def ids(self) -> frozenset[int]:
        return frozenset(self._by_id)

    def for_number(self, called_number: str) -> Estate:
        """The estate whose hotline was dialled; the default for a number no estate lists."""
        return self._by_number.get(number_key(called_number or ""), self.default)

    def id_for_number(self, called_number: str) -> int:
        return self.for_number(called_number).id

    def by_id(self, estate_id: int) -> Estate | None:
        return self._by_id.get(estate_id)

    def by_code(self, code: str) -> Estate | None:
        return self._by_code.get(code)

    def name_of(self, estate_id: int) -> str:
        e = self._by_id.get(estate_id)
        return e.name if e is not None else ""


def configured(estates: Sequence[EstateSettings], default_name: str,
               default_rules: Path | None = None) -> list[EstateSettings]:
    """config.yaml's list, or (none configured) the one estate of a single-estate site."""
    if estates:
        return list(estates)
    return [EstateSettings(code=DEFAULT_CODE, name=default_name, rules_file=default_rules)]


def sync_estates(engine: Engine, clock: Clock, estates: Iterable[EstateSettings]) -> Estates:
    """Bring the `estate` rows in line with the configuration and return the lookup. Rows of
    estates no longer configured stay (inactive) with their data. Processes of one site started
    together may race to add an estate: the loser reads the winner's row."""
    wanted = list(estates)
    try:
        return _sync(engine, clock, wanted)
    except IntegrityError:
        return _sync(engine, clock, wanted)


def _sync(engine: Engine, clock: Clock, wanted: list[EstateSettings]) -> Estates:
    with Session(engine, expire_on_commit=False) as s:
        rows = {r.code: r for r in s.exec(select(EstateRow).order_by(col(EstateRow.id))).all()}
        first = s.get(EstateRow, DEFAULT_ESTATE_ID)
        if first is not None and first.code == DEFAULT_CODE and wanted[0].code != DEFAULT_CODE \
                and wanted[0].code not in rows:
            rows.pop(DEFAULT_CODE)
            first.code = wanted[0].code  # the first estate claims the data carried by the migration
            rows[first.code] = first
        codes = {e.code for e in wanted}
        for e in wanted:
            row = rows.get(e.code)
            if row is None:
                row = EstateRow(code=e.code, created_at=clock.now())
                rows[e.code] = row
            row.name, row.numbers, row.active = e.name, list(e.numbers), True
            s.add(row)
        for code, row in rows.items():
            if code not in codes and row.active:
                row.active = False
                s.add(row)
        s.commit()
        by_code = {e.code: e for e in wanted}
        out = []
        for row in sorted(rows.values(), key=lambda r: r.id or 0):
            assert row.id is not None
            conf = by_code.get(row.code)
            out.append(Estate(id=row.id, code=row.code, name=row.name, numbers=tuple(row.numbers),
                              greeting=conf.greeting if conf else "",
                              rules_file=conf.rules_file if conf else None, active=row.active,
                              hours=conf.hours() if conf else {},
                              duty_roster=conf.duty_roster if conf else None))
    default = rows[wanted[0].code].id
    assert default is not None
    return Estates(out, default_id=default)


def load_estates(engine: Engine) -> Estates:
    """The estates as the database has them (processes that do not own the configuration's sync)."""
    with Session(engine) as s:
        rows = s.exec(select(EstateRow).order_by(col(EstateRow.id))).all()
        out = [Estate(id=r.id or 0, code=r.code, name=r.name, numbers=tuple(r.numbers), active=r.active)
               for r in rows]
    return Estates(out) if out else Estates.single()
