"""The estate of a call follows the number dialled; the directory, the screen pop and the repeat
rule look within that estate only (the same unit number names another flat in another estate)."""

from __future__ import annotations

import pytest

from callcenter.asr.interface import Transcript
from callcenter.calls.drafter import CallDrafter
from callcenter.drafting.rules import DraftingRules
from callcenter.ledger.service import LedgerError
from tests.estates.conftest import A_NUMBER, B_DIALLED, TwoEstates

pytestmark = pytest.mark.both_dbs
CALLER = "13800138000"


def _call(t: TwoEstates, key: str, called: str, caller: str = CALLER) -> int:
    t.clock.advance(seconds=60)
    t.ledger.call_ringing(key, caller, "", called, t.clock.now())
    return t.ledger.call_answered(key).entry_id


def test_calls_and_their_entries_land_in_the_estate_dialled(two_estates: TwoEstates) -> None:
    t = two_estates
    entry_b = _call(t, "b1", B_DIALLED)
    entry_a = _call(t, "a1", A_NUMBER)
    entry_other = _call(t, "x1", "hotline")  # a number no estate lists: the default estate
    assert t.ledger.call_by_key("b1").estate_id == t.b.id and t.ledger.get_entry(entry_b).estate_id == t.b.id
    assert t.ledger.get_entry(entry_a).estate_id == t.a.id
    assert t.ledger.get_entry(entry_other).estate_id == t.estates.default.id == t.a.id
    t.ledger.call_ringing("b2", "13911112222", "", B_DIALLED, t.clock.now())
    missed = t.ledger.call_missed("b2", "cancelled")
    assert t.ledger.get_entry(missed).estate_id == t.b.id
    assert {e.id for e in t.ledger.list_entries(estate_ids={t.b.id})[1]} == {entry_b, missed}
    assert {c.sip_call_id for c in t.ledger.list_calls(estate_ids={t.a.id})} == {"a1", "x1"}


def test_the_directory_answers_within_the_estate_called(two_estates: TwoEstates) -> None:
    t = two_estates
    t.ledger.upsert_resident("4-2-301", "王建国", [CALLER], False, estate_id=t.a.id)
    t.ledger.upsert_resident("4-2-301", "李秀英", ["13700137000"], False, estate_id=t.b.id)
    a = t.ledger.get_entry(_call(t, "a1", A_NUMBER))
    b = t.ledger.get_entry(_call(t, "b1", B_DIALLED))
    assert (a.caller_name, a.unit) == ("王建国", "4-2-301")
    assert (b.caller_name, b.unit, b.resident_id) == ("", "", None)  # not 幸福家园's resident
    history = t.ledger.caller_history(CALLER, "4-2-301", estate_id=t.b.id)
    assert history.resident is None and history.unit_recent == []  # 幸福家园's 4-2-301 is not shown
    assert {e.id for e in history.caller_recent} == {b.id}
    in_a = t.ledger.caller_history(CALLER, "", estate_id=t.a.id)
    assert in_a.resident is not None and {e.id for e in in_a.unit_recent} == {a.id}


def test_a_repeat_call_is_matched_within_its_estate_only(two_estates: TwoEstates) -> None:
    t = two_estates
    drafter = CallDrafter(t.ledger, DraftingRules.load())
    first_text = "我是五栋一单元六零二的，家里停电了，麻烦来看一下。"
    again = "我是五栋一单元六零二的，刚才打过电话，家里还是没电，怎么还没人来？"
    first = _call(t, "a1", A_NUMBER)
    assert drafter.draft("a1", CALLER, first, Transcript(first_text), "") == first
    # the same caller and unit, the same words, but the other estate's hotline: a new case there
    in_b = _call(t, "b1", B_DIALLED)
    assert drafter.draft("b1", CALLER, in_b, Transcript(again), "") == in_b
    assert t.ledger.get_entry(in_b).status != "merged" and t.ledger.get_entry(first).repeat_count == 0
    # ...and in the estate of the open entry it is the repeat (一票到底, upgraded to a complaint)
    in_a = _call(t, "a2", A_NUMBER)
    assert drafter.draft("a2", CALLER, in_a, Transcript(again), "") == first
    joined = t.ledger.get_entry(first)
    assert joined.repeat_count == 1 and joined.category == "投诉"
    # a clerk cannot link a call to another estate's entry either
    b_call = t.ledger.call_by_key("b1")
    assert b_call.id is not None
    with pytest.raises(LedgerError, match="another estate"):
        t.ledger.link_call(b_call.id, first, "clerk1")


def test_a_manual_entry_goes_to_the_estate_given(two_estates: TwoEstates) -> None:
    from callcenter.accounts import Accounts

    t = two_estates
    Accounts(t.engine, t.clock).add_user("clerk1", "clerk", "clerk-password")
    e = t.ledger.create_manual_entry({"summary": "路灯不亮"}, "walk_in", "clerk1", 1, estate_id=t.b.id)
    assert e.estate_id == t.b.id
    assert t.ledger.create_manual_entry({"summary": "路灯不亮"}, "walk_in", "clerk1", 1).estate_id == t.a.id
    with pytest.raises(LedgerError, match="estate_id"):
        t.ledger.create_manual_entry({"summary": "x"}, "walk_in", "clerk1", 1, estate_id=999)
