from __future__ import annotations

import itertools

import pytest

from callcenter.ledger.lifecycle import (
    OPEN,
    STATES,
    TERMINAL,
    TRANSITIONS,
    EntrySnapshot,
    TransitionError,
    allowed_targets,
    check_transition,
)

# The lifecycle, written out by hand so a change to the table is a deliberate change here too.
EXPECTED = {
    ("draft", "registered"), ("draft", "cancelled"), ("draft", "merged"),
    ("registered", "dispatched"), ("registered", "completed"), ("registered", "cancelled"),
    ("registered", "merged"),
    ("dispatched", "in_progress"), ("dispatched", "completed"), ("dispatched", "cancelled"),
    ("in_progress", "completed"), ("in_progress", "cancelled"),
    ("completed", "called_back"), ("completed", "closed"), ("completed", "in_progress"),
    ("called_back", "called_back"), ("called_back", "closed"), ("called_back", "in_progress"),
    ("closed", "in_progress"),
}


def snap(status: str, **kw: object) -> EntrySnapshot:
    base: dict[str, object] = dict(id=7, status=status, category="咨询", department="工程")
    base.update(kw)
    return EntrySnapshot(**base)  # type: ignore[arg-type]


def test_states_are_the_ledgers_statuses() -> None:
    assert tuple(s for s in STATES if s in OPEN) == OPEN  # in lifecycle order
    assert set(OPEN) | {"called_back"} | set(TERMINAL) == set(STATES)
    assert set(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(STATES, STATES)))
def test_every_pair_of_states(src: str, dst: str) -> None:
    """Every (from, to) pair with all guards satisfied: allowed exactly when the table says so."""
    if (src, dst) in EXPECTED:
        check_transition(snap(src), dst, note="业户再次反映", satisfaction="满意")
    else:
        with pytest.raises(TransitionError) as err:
            check_transition(snap(src), dst, note="业户再次反映", satisfaction="满意")
        msg = str(err.value)
        assert f"cannot move from {src} to {dst}" in msg and "不能从" in msg
        # the message says what may come next (or that the state is final)
        assert ("may move to" in msg) or ("is final" in msg)


@pytest.mark.parametrize("terminal", ["cancelled", "merged"])
def test_cancelled_and_merged_are_final(terminal: str) -> None:
    assert allowed_targets(terminal) == ()
    with pytest.raises(TransitionError, match="is final"):
        check_transition(snap(terminal), "in_progress", note="reason")


def test_unknown_status() -> None:
    with pytest.raises(TransitionError, match="unknown status 'done'"):
        check_transition(snap("completed"), "done")


GUARD_CASES = [
    # (snapshot, to, note, satisfaction, refused?, text in the refusal)
    (snap("completed", category="投诉"), "closed", "", None, True, "complaint cannot be closed before it is called back"),
    (snap("completed", category="投诉", needs_callback=True), "closed", "", None, True, "投诉必须回访"),
    (snap("completed", category="报修", needs_callback=True), "closed", "", None, True, "sampled for a callback"),
    (snap("completed", category="报修", needs_callback=False), "closed", "", None, False, ""),
    (snap("completed", category="咨询"), "closed", "", None, False, ""),
    (snap("called_back", category="投诉", last_satisfaction="满意"), "closed", "", None, False, ""),
    (snap("called_back", category="投诉", last_satisfaction="基本满意"), "closed", "", None, False, ""),
    (snap("called_back", category="投诉", last_satisfaction="不满意"), "closed", "", None, True, "not satisfied"),
    (snap("completed"), "called_back", "", None, True, "needs its result"),
    (snap("completed"), "called_back", "", "还行", True, "满意/基本满意/不满意"),
    (snap("completed"), "called_back", "", "不满意", False, ""),
    (snap("called_back", last_satisfaction="不满意"), "called_back", "", "满意", False, ""),
    (snap("called_back", last_satisfaction="不满意"), "in_progress", "", None, False, ""),
    (snap("called_back", last_satisfaction="满意"), "in_progress", "", None, True, "reopening needs a reason"),
    (snap("called_back", last_satisfaction="满意"), "in_progress", "漏水复发", None, False, ""),
    (snap("closed", last_satisfaction="满意"), "in_progress", "", None, True, "重新打开须说明原因"),
    (snap("closed", last_satisfaction="满意"), "in_progress", "   ", None, True, "reopening needs a reason"),
    (snap("closed"), "in_progress", "业户再次来电反映未修好", None, False, ""),
    (snap("completed"), "in_progress", "", None, True, "reopening needs a reason"),
    (snap("completed"), "in_progress", "核查未完工，返工", None, False, ""),
    (snap("registered", department=""), "dispatched", "", None, True, "set the entry's department"),
    (snap("registered", department="工程"), "dispatched", "", None, False, ""),
]


@pytest.mark.parametrize(("entry", "to", "note", "satisfaction", "refused", "text"), GUARD_CASES)
def test_guards(entry: EntrySnapshot, to: str, note: str, satisfaction: str | None, refused: bool,
                text: str) -> None:
    if refused:
        with pytest.raises(TransitionError) as err:
            check_transition(entry, to, note=note, satisfaction=satisfaction)
        assert text in str(err.value)
        assert f"台账 {entry.id}" in str(err.value)
    else:
        check_transition(entry, to, note=note, satisfaction=satisfaction)


def test_allowed_targets_in_lifecycle_order() -> None:
    assert allowed_targets("draft") == ("registered", "cancelled", "merged")
    assert allowed_targets("completed") == ("in_progress", "called_back", "closed")
