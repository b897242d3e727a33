"""The residents directory: who lives in which unit, with which phone numbers (the screen pop
and the drafting's unit come from it). CSV import: directory.py."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import select

from callcenter.ledger.core import LedgerCore, digits_only
from callcenter.ledger.models import Resident, ResidentPhone


class Residents(LedgerCore):
    def upsert_resident(self, unit: str, name: str, phones: Sequence[str], key_customer: bool,
                        note: str = "", estate_id: int | None = None) -> int:
        """`estate_id` None: the default estate (a single-estate site's directory)."""
        estate = self.estates.default.id if estate_id is None else estate_id
        with self.session() as s:
            res = s.exec(select(Resident).where(Resident.unit == unit, Resident.name == name,
                                                Resident.estate_id == estate)).first()
            if res is None:
                res = Resident(unit=unit, name=name, estate_id=estate)
            res.key_customer, res.note = key_customer, note
            s.add(res)
            s.flush()
            known = set(s.exec(select(ResidentPhone.phone).where(ResidentPhone.resident_id == res.id)).all())
            for phone in phones:
                p = digits_only(phone)
                if p and p not in known:
                    assert res.id is not None
                    s.add(ResidentPhone(resident_id=res.id, phone=p))
                    known.add(p)
            s.commit()
            assert res.id is not None
            return res.id
