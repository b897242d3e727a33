"""An entry's history for QA (issue 16): the audit log's old/new values and the corrections'
drafted/confirmed values hold what clerks typed — phone and ID numbers too — and are masked for
QA like every other field; a clerk reads them as written."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callcenter.asr.interface import Transcript
from callcenter.calls.drafter import CallDrafter
from callcenter.drafting.rules import DraftingRules
from tests.web.conftest import recorded_call


def test_audit_and_corrections_are_masked_for_qa(parts) -> None:  # type: ignore[no-untyped-def]
    app, ledger, accounts, store = parts
    pk = recorded_call(ledger, store, number="13912345678")
    entry_id = ledger.get_call(pk).entry_id
    spoken = Transcript("楼道灯坏了，回电13912345678", (), "test")  # drafted: corrections to compare
    CallDrafter(ledger, DraftingRules.load()).draft("call-1", "13912345678", entry_id, spoken, "")
    ledger.confirm_entry(entry_id, {"summary": "回电 139-1234-5678，身份证110101199003071234"}, "clerk1", 2)
    qa = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('qa1')}"})
    clerk = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('clerk1')}"})
    for client, masked in ((qa, True), (clerk, False)):
        audit = client.get(f"/api/entries/{entry_id}/audit").json()
        corrections = client.get(f"/api/entries/{entry_id}/corrections").json()
        text = repr(audit) + repr(corrections)
        summary = next(a["new"] for a in audit if a["field"] == "summary")
        confirmed = next(c["confirmed_value"] for c in corrections if c["field"] == "summary")
        if masked:
            assert "1234-5678" not in text and "110101199003071234" not in text
            assert summary == confirmed == "回电 139****5678，身份证110101********1234"
        else:
            assert summary == confirmed == "回电 139-1234-5678，身份证110101199003071234"
