"""`GET /api/meta` → `vocab`: every code the panel shows, with its label, in display order.

Nothing is defined here: each group comes from the package that owns the concept (the entry
lifecycle and the ledger's terms, work orders, callback tasks, clocks, notices, QA, report
periods) and from the site's rules file (categories, departments, complaint subjects). The
shape is `web/schemas.py` `Vocab`; the panel keeps no copy of any of these lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from callcenter.accounts import ROLE_LABELS
from callcenter.drafting.terms import SiteTerms
from callcenter.ledger import lifecycle
from callcenter.ledger import vocabulary as ledger_terms
from callcenter.notify.message import SEVERITY_LABELS
from callcenter.qa.checks import VERDICT_LABELS
from callcenter.qa.evidence import SPAN_KINDS
from callcenter.reports.periods import PERIOD_HINTS
from callcenter.staffing.lines import PRESENCE
from callcenter.web.schemas import Term, Vocab
from callcenter.workflow import callback_tasks, work_orders
from callcenter.workflow.clocks import CLOCK_LABELS


def _terms(labels: Mapping[str, str]) -> list[Term]:
    return [Term(code=code, label=label) for code, label in labels.items()]


def _own(codes: Iterable[str]) -> list[Term]:
    """Codes that are their own label (the site's Chinese names, satisfactions)."""
    return [Term(code=code, label=code) for code in codes]


def vocabulary(site: SiteTerms) -> Vocab:
    return Vocab(
        entry_statuses=_terms(lifecycle.LABELS),
        open_statuses=list(lifecycle.OPEN),
        reopened_from=list(lifecycle.REOPENED_FROM),
        entry_kinds=_terms(ledger_terms.ENTRY_KINDS),
        categories=_own(site.categories),
        departments=_own(site.departments),
        complaint_subjects=_own(site.complaint_subjects),
        sources=_terms(ledger_terms.SOURCES),
        end_reasons=_terms(ledger_terms.END_REASONS),
        missed_reasons=_terms(ledger_terms.MISSED_REASONS),
        entry_fields=_terms(ledger_terms.ENTRY_FIELDS),
        audit_actions=_terms(ledger_terms.AUDIT_ACTIONS),
        work_order_kinds=_terms(work_orders.KINDS),
        work_order_statuses=_terms(work_orders.LABELS),
        work_order_moves=_terms(work_orders.MOVE_LABELS),
        work_order_fields=_terms(work_orders.FIELD_LABELS),
        work_order_transitions={status: list(moves) for status, moves in work_orders.MOVES.items()},
        task_kinds=_terms(callback_tasks.KINDS),
        callback_reasons=_terms(ledger_terms.CALLBACK_REASONS),
        task_statuses=_terms(callback_tasks.STATUSES),
        callback_outcomes=_terms(callback_tasks.OUTCOMES),
        satisfactions=_own(lifecycle.SATISFACTIONS),
        severities=_terms(SEVERITY_LABELS),
        qa_verdicts=_terms(VERDICT_LABELS),
        clock_kinds=_terms(CLOCK_LABELS),
        period_hints=_terms(PERIOD_HINTS),
        roles=_terms(ROLE_LABELS),
        transcript_statuses=_terms(ledger_terms.TRANSCRIPT_STATUSES),
        evidence_kinds=_terms(SPAN_KINDS),
        presence=_terms(PRESENCE),
        intake_paths=_terms(ledger_terms.INTAKE_PATHS),
        person_steps=_terms(ledger_terms.PERSON_STEPS),
        entry_defaults={"category": site.fallback_category, "department": site.desk_department},
    )
