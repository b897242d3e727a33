"""The one write path for calls and entries: status changes, the audit log and events happen here.

Callers (the call pipeline, the web API, the workflow, the CLI) never write the ledger's tables
themselves; they hold one `LedgerService`, made of the parts below, each in its own module:

| module | owns |
|---|---|
| core.py | the database, clock, bus and site rules; sessions; the audit trail; errors |
| calls.py | the call pipeline's writes, idempotent for the outbox; crash leftovers |
| edits.py | clerks' corrections, confirmation, manual entries, urgent acknowledgement, linking |
| transitions.py | the lifecycle's status changes, checked and stamped |
| repeats.py | the repeat rule: a call joins the open entry it is about |
| queries.py | everything read |
| residents.py | the residents directory |
"""

from __future__ import annotations

from callcenter.ledger.calls import AnsweredCall, CallLog
from callcenter.ledger.core import LedgerError, NotFound, digits_only
from callcenter.ledger.edits import ClerkEdits
from callcenter.ledger.queries import CallerHistory, Queries
from callcenter.ledger.residents import Residents

__all__ = ["AnsweredCall", "CallerHistory", "LedgerError", "LedgerService", "NotFound", "digits_only"]


class LedgerService(CallLog, ClerkEdits, Queries, Residents):
    """LedgerService(engine, clock, bus, callbacks=CallbackSampling, call_write_timeout_s=3.0,
    terms=SiteTerms): see core.LedgerCore."""
