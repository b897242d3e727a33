"""One unit normaliser (drafting.units.normalize_unit) for everything a person types: the panel's
forms and lookups, the directory import (panel and CLI) and the drafting agree on every input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from callcenter.drafting.draft import choose_unit
from callcenter.drafting.units import normalize_unit
from callcenter.ledger.directory import import_residents_csv

TYPED = [("4 2 301", "4-2-301"), ("4栋2单元301", "4-2-301"), ("4-2-301", "4-2-301"), ("4/2/301", "4-2-301"),
         ("四栋两单元三零一", "4-2-301"), ("４－２－３０１", "4-2-301"), ("12 1 1603", "12-1-1603")]
REFUSED = ["301", "4-2", "四栋"]


@pytest.mark.parametrize(("typed", "unit"), TYPED)
def test_every_way_in_gives_the_same_unit(parts, typed: str, unit: str) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    assert normalize_unit(typed) == unit
    # the panel: a walk-in, a correction, the screen pop's unit lookup, the unit completion
    created = client.post("/api/entries", json={"source": "walk_in", "unit": typed, "summary": "楼道灯不亮"})
    assert created.status_code == 201 and created.json()["unit"] == unit
    entry_id = created.json()["id"]
    patched = client.patch(f"/api/entries/{entry_id}", json={"unit": typed})
    assert patched.status_code == 200 and patched.json()["unit"] == unit
    history = client.get("/api/callers/history", params={"unit": typed}).json()
    assert [e["id"] for e in history["open_entries"]] == [entry_id]
    # the directory import (the panel's upload and `callcenter residents import` share it)
    result = import_residents_csv(f"unit,name,phones\n{typed},王建国,13800138000\n", ledger)
    assert (result.imported, result.errors) == (1, [])
    assert ledger.resident_for_number("13800138000").unit == unit
    assert client.get("/api/residents/units", params={"prefix": typed}).json()[0]["unit"] == unit
    # the drafting: a unit keyed on the phone or held in the directory
    assert choose_unit("", directory_unit=typed, dtmf_unit=None)[0].value == unit
    assert choose_unit("", directory_unit=None, dtmf_unit=typed)[0].value == unit


@pytest.mark.parametrize("typed", REFUSED)
def test_an_incomplete_unit_is_refused_the_same_way_everywhere(parts, typed: str) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    assert normalize_unit(typed) is None
    r = client.post("/api/entries", json={"source": "walk_in", "unit": typed, "summary": "楼道灯不亮"})
    assert r.status_code == 422 and "无法识别" in r.json()["detail"]
    result = import_residents_csv(f"unit,name,phones\n{typed},王建国,13800138000\n", ledger)
    assert result.imported == 0 and "无法识别" in result.errors[0]


def test_a_csv_the_csv_module_cannot_read_is_reported_not_a_server_error(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, _ = parts
    admin = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('admin')}"})
    # a lone carriage return in the header (found by the API fuzzer: it was a 500)
    r = admin.post("/api/residents/import", files={"file": ("r.csv", "unit,na\rme,phones\n4-2-301,王建国,138\n")})
    assert r.status_code == 200 and r.json()["imported"] == 0
    # and in a row: that line is a line of its own, reported; the others are imported
    body = "unit,name,phones\n4-2-301,王建\r国,13800138000\n5-1-101,李梅,13900139000\n"
    result = import_residents_csv(body, ledger)
    assert result.imported == 1 and len(result.errors) == 2, result.errors
    assert ledger.resident_for_number("13900139000").unit == "5-1-101"
