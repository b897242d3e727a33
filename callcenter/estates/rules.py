"""Each estate's drafting rules: its own rules file (departments, keywords), else the site's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from callcenter.drafting.rules import DraftingRules
from callcenter.drafting.terms import SiteTerms
from callcenter.estates.directory import Estates


def estate_rules(estates: Estates, site_rules_file: Path | None) -> dict[int, DraftingRules]:
    """Rules per estate id, for the estates whose rules file is not the site's (each validated
    at start like the site's: DraftingRulesError names the file and the key)."""
    out: dict[int, DraftingRules] = {}
    for e in estates.active():
        if e.rules_file is not None and e.rules_file != site_rules_file:
            out[e.id] = DraftingRules.load(e.rules_file)
    return out


def combined_terms(site: SiteTerms, rules: dict[int, DraftingRules]) -> SiteTerms:
    """What the ledger accepts: the site's categories, departments and complaint subjects, and
    after them those only an estate's rules file defines (its own departments)."""

    def extend(base: tuple[str, ...], more: list[str]) -> tuple[str, ...]:
        return base + tuple(dict.fromkeys(m for m in more if m not in base))

    cats: list[str] = []
    deps: list[str] = []
    subjects: list[str] = []
    pairs: list[tuple[str, str]] = []
    for r in rules.values():
        t = r.site_terms()
        cats += t.categories
        deps += t.departments
        subjects += t.complaint_subjects
        pairs += [p for p in t.subject_departments if p[0] not in site.complaint_subjects]
    if not cats and not deps and not subjects:
        return site
    return dataclasses.replace(site, categories=extend(site.categories, cats),
                               departments=extend(site.departments, deps),
                               complaint_subjects=extend(site.complaint_subjects, subjects),
                               subject_departments=site.subject_departments + tuple(dict.fromkeys(pairs)))
