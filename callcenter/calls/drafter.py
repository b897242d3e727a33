"""Turns a finished call (transcript, keypad digits, caller number) into the draft ledger entry,
applying the repeat rule against the caller's and the unit's open entries."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from callcenter.asr.interface import Transcript
from callcenter.calls.understanding import CallerFacts, apply_facts
from callcenter.drafting.draft import draft_entry
from callcenter.drafting.repeat import OpenEntry, apply_repeat, find_repeat
from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.serving import ModelProvider
from callcenter.drafting.units import parse_dtmf_unit
from callcenter.ledger.service import LedgerService

log = logging.getLogger(__name__)


class CallDrafter:
    def __init__(self, ledger: LedgerService, rules: DraftingRules, models: ModelProvider | None = None,
                 estate_rules: Mapping[int, DraftingRules] | None = None) -> None:
        self.ledger = ledger
        self.rules = rules
        # an estate with its own rules file (its departments, keywords); the others use `rules`
        self.estate_rules = dict(estate_rules or {})
        # None: rules only. A provider whose model cannot be read also gives the rules (and alarms).
        self.models = models

    def draft(self, sip_call_id: str, caller_number: str, own_entry_id: int | None,
              transcript: Transcript | None, dtmf: str, facts: dict[str, object] | None = None) -> int:
        """Returns the id of the entry the call ends up linked to. `own_entry_id` None (the call
        was answered while the database was away): the call's entry as the ledger has it now."""
        call = self.ledger.call_by_key(sip_call_id)
        if own_entry_id is None:
            own_entry_id = call.entry_id
        estate_id = call.estate_id  # residents, open entries and rules of the estate called
        rules = self.estate_rules.get(estate_id, self.rules)
        resident = self.ledger.resident_for_number(caller_number, estate_id)
        caller_facts = CallerFacts.from_dict(facts)
        text = transcript.text if transcript else ""
        draft = draft_entry(text, rules, directory_unit=resident.unit if resident else None,
                            dtmf_unit=keyed_unit(dtmf, caller_facts) if dtmf else None,
                            model=self.models.get() if self.models is not None else None)
        # What the caller confirmed on the keypad during the call is their own word.
        draft = apply_facts(draft, caller_facts)
        unit = draft.unit.value or ""
        candidates = [
            OpenEntry(entry_id=e.id, unit=e.unit or None, caller_number=e.caller_number or None,
                      category=e.category, summary=e.summary,
                      transcript=" ".join(c.transcript_text for c in self.ledger.calls_of_entry(e.id)))
            for e in self.ledger.open_entries(caller_number, unit, estate_id)
            if e.id is not None and e.id != own_entry_id and e.kind != "missed_call"
        ]
        match = find_repeat(draft, caller_number or None, candidates, rules) if text else None
        if match is not None:
            draft = apply_repeat(draft, match)
            log.info("call %s repeats entry %s (%s)", sip_call_id, match.entry_id, match.reason)
        return self.ledger.apply_draft(sip_call_id, draft, match.entry_id if match else None,
                                       match.reason if match else "")



def keyed_unit(dtmf: str, facts: CallerFacts | None) -> str | None:
    """The unit keyed during the call. The conversation knows which keys were the unit (menu keys
    such as 1 to confirm or 0 for a person are pressed around it); without it, the whole string,
    else its last '#'-closed group that reads as a unit."""
    if facts is not None and facts.keyed_unit:
        return facts.keyed_unit
    whole = parse_dtmf_unit(dtmf)
    if whole is not None:
        return whole
    for group in reversed(dtmf.split("#")):
        unit = parse_dtmf_unit(group) if group else None
        if unit is not None:
            return unit
    return None
