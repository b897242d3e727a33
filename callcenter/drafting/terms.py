"""The site's own vocabulary: its categories, departments and complaint subjects (投诉项目分类).

They are written once, in the site's drafting rules file (`drafting.rules_file`, else the
packaged `rules.yaml`), and validated there at start; `DraftingRules.site_terms()` hands them
to the ledger (which accepts exactly these), the workflow (work orders go to these
departments), the reports and the panel (`GET /api/meta` → `vocab`). Each is its own label.

Only a few names are fixed in code, because rules of the trade hang on them; a rules file
without them is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

# The category the repeat rule raises an entry to, that is always called back (100 %) and that
# the complaint statistics count (DOMAIN.md).
COMPLAINT = "投诉"
# The department a complaint goes to when the caller asks the guards to act (late-night noise).
GUARDS = "安保"


class UnknownTerm(ValueError):
    """A category, department or complaint subject the site's rules file does not define."""


@dataclass(frozen=True)
class SiteTerms:
    categories: tuple[str, ...]  # display order: the rules file's order, the fallback category last
    departments: tuple[str, ...]
    complaint_subjects: tuple[str, ...]
    fallback_category: str  # what nothing matched becomes (其他); missed calls and manual entries start here
    desk_department: str  # the fallback category's department (客服): who owns what nobody else does
    fallback_complaint_subject: str
    # complaint subject -> the department it goes to, in the rules file's order
    subject_departments: tuple[tuple[str, str], ...] = ()
    source: str = "rules.yaml"  # the file they come from, named in refusals

    def check_category(self, value: str, field: str = "category") -> str:
        if value not in self.categories:
            raise UnknownTerm(f"{field} must be one of {'/'.join(self.categories)} "
                              f"(the categories of {self.source}), got {value!r}")
        return value

    def check_department(self, value: str, field: str = "department") -> str:
        if value not in self.departments:
            raise UnknownTerm(f"{field} must be one of {'/'.join(self.departments)} "
                              f"(the departments of {self.source}), got {value!r}")
        return value

    def subject_for_department(self, department: str) -> str:
        """The complaint subject a department stands for when it has exactly one (保洁 → 清洁),
        else the fallback subject (客服 has several: 其它)."""
        subjects = [s for s, d in self.subject_departments if d == department]
        return subjects[0] if len(subjects) == 1 else self.fallback_complaint_subject
