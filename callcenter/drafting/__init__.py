"""Drafting: pure functions from a call's transcript to a drafted ledger entry (Draft).

Pure: units, classify, hazard, combine, model (serving), summary, repeat. With disk or
database: registry, serving, train (scikit-learn), retrain, site_data, accuracy_report.

Importing this package reads no file; load the rules with `DraftingRules.load()`.
"""

from .classify import Classification, classify
from .draft import Draft, UnitSource, draft_entry
from .fields import Evidence, FieldGuess
from .repeat import OpenEntry, RepeatMatch, apply_repeat, find_repeat
from .rules import DraftingRules, DraftingRulesError, packaged_terms, site_terms_of
from .summary import caller_surname, summarize
from .terms import COMPLAINT, SiteTerms, UnknownTerm
from .units import UnitMatch, normalize_unit, parse_dtmf_unit, parse_unit

__all__ = [
    "COMPLAINT",
    "Classification",
    "Draft",
    "DraftingRules",
    "DraftingRulesError",
    "Evidence",
    "FieldGuess",
    "OpenEntry",
    "RepeatMatch",
    "SiteTerms",
    "UnitMatch",
    "UnitSource",
    "UnknownTerm",
    "apply_repeat",
    "caller_surname",
    "classify",
    "draft_entry",
    "find_repeat",
    "normalize_unit",
    "parse_dtmf_unit",
    "packaged_terms",
    "parse_unit",
    "site_terms_of",
    "summarize",
]
