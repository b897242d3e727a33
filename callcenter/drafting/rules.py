"""The drafting rules: trade knowledge as validated, editable configuration.

The rules live in `rules.yaml` next to this module (or a file named by the
config's `drafting.rules_file`). Nothing here reads the disk until `load`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs in the venv
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .terms import COMPLAINT, GUARDS, SiteTerms

# term (regex) -> weight
WeightedTerms = dict[str, float]


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]  # yaml is untyped here
    """A YAML loader that refuses duplicate keys: PyYAML would silently keep the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


class DraftingRulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the key."""


@lru_cache(maxsize=4096)
def compile_term(pattern: str) -> re.Pattern[str]:
    """Compiled form of a rules term; cached because the same few hundred terms run on every call."""
    return re.compile(pattern)


def _check_patterns(patterns: list[str] | dict[str, Any]) -> None:
    for pattern in patterns:
        try:
            compile_term(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicRoute(_Frozen):
    department: str
    categories: tuple[str, ...]
    min_score: float = 1.0
    terms: WeightedTerms

    @field_validator("terms")
    @classmethod
    def _patterns_compile(cls, value: WeightedTerms) -> WeightedTerms:
        _check_patterns(value)
        return value


class Routing(_Frozen):
    default_department: dict[str, str]
    topics: tuple[TopicRoute, ...] = ()


class ComplaintSubject(_Frozen):
    department: str
    terms: WeightedTerms

    @field_validator("terms")
    @classmethod
    def _patterns_compile(cls, value: WeightedTerms) -> WeightedTerms:
        _check_patterns(value)
        return value


class SummaryRules(_Frozen):
    max_chars: int = Field(default=40, ge=8, le=200)
    drop_clauses: tuple[str, ...] = ()
    strip_fragments: tuple[str, ...] = ()

    @field_validator("drop_clauses", "strip_fragments")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _check_patterns(list(value))
        return value


class CallerNameRules(_Frozen):
    patterns: tuple[str, ...]
    not_surnames: frozenset[str] = frozenset()

    @field_validator("patterns")
    @classmethod
    def _patterns_name_surname(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _check_patterns(list(value))
        for pattern in value:
            if "surname" not in compile_term(pattern).groupindex:
                raise ValueError(f"pattern {pattern!r} needs a named group (?P<surname>...)")
        return value


class DraftingRules(_Frozen):
    """Everything the drafting functions know about the trade."""

    version: int = 1
    negations: tuple[str, ...] = ()
    negation_window: int = Field(2, ge=0, le=6)
    categories: dict[str, WeightedTerms]
    category_min_score: float = 1.0
    fallback_category: str = "其他"
    departments: tuple[str, ...]
    routing: Routing
    complaint_subjects: dict[str, ComplaintSubject]
    fallback_complaint_subject: str
    complaint_guard_requests: WeightedTerms = {}
    urgent_terms: WeightedTerms
    topics: dict[str, tuple[str, ...]]
    summary: SummaryRules = SummaryRules()
    caller_name: CallerNameRules

    @field_validator("categories")
    @classmethod
    def _category_patterns_compile(cls, value: dict[str, WeightedTerms]) -> dict[str, WeightedTerms]:
        if COMPLAINT not in value:
            raise ValueError(f"the category {COMPLAINT} (complaints) is required: the repeat rule, the "
                             f"complaint statistics and the 100 % callbacks depend on it")
        for terms in value.values():
            _check_patterns(terms)
        return value

    @field_validator("urgent_terms", "complaint_guard_requests")
    @classmethod
    def _weighted_patterns_compile(cls, value: WeightedTerms) -> WeightedTerms:
        _check_patterns(value)
        return value

    @field_validator("topics")
    @classmethod
    def _topic_patterns_compile(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for synonyms in value.values():
            _check_patterns(list(synonyms))
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> DraftingRules:
        # Cross-references are checked here so a typo in a department name fails at load, not mid-call.
        known = set(self.departments)
        categories = self.category_names()
        if len(set(self.departments)) != len(self.departments):
            raise ValueError("departments: a department is listed twice")
        missing = [c for c in categories if c not in self.routing.default_department]
        if missing:
            raise ValueError(f"routing.default_department lacks {', '.join(missing)}: every category "
                             f"needs the department that handles it by default")
        for category, department in self.routing.default_department.items():
            if category not in categories:
                raise ValueError(f"routing.default_department.{category}: unknown category {category!r}; "
                                 f"the categories are {', '.join(categories)}")
            if department not in known:
                raise ValueError(f"routing.default_department.{category}: unknown department {department!r}; "
                                 f"add it to departments or use one of {', '.join(self.departments)}")
        for index, route in enumerate(self.routing.topics):
            if route.department not in known:
                raise ValueError(
                    f"routing.topics.{index}.department: unknown department {route.department!r}; "
                    f"add it to departments or use one of {', '.join(self.departments)}"
                )
            for category in route.categories:
                if category not in categories:
                    raise ValueError(f"routing.topics.{index}.categories: unknown category {category!r}; "
                                     f"the categories are {', '.join(categories)}")
        for name, subject in self.complaint_subjects.items():
            if subject.department not in known:
                raise ValueError(
                    f"complaint_subjects.{name}.department: unknown department {subject.department!r}; "
                    f"add it to departments or use one of {', '.join(self.departments)}"
                )
        if self.fallback_complaint_subject not in self.complaint_subjects:
            raise ValueError(f"fallback_complaint_subject {self.fallback_complaint_subject!r} is not listed")
        if self.complaint_guard_requests and GUARDS not in known:
            raise ValueError(f"complaint_guard_requests send complaints to the department {GUARDS}, "
                             f"which departments does not list")
        return self

    def category_names(self) -> tuple[str, ...]:
        """The site's categories in display order: those with terms, then the fallback."""
        names = tuple(self.categories)
        return names if self.fallback_category in names else (*names, self.fallback_category)

    def site_terms(self, source: str = "rules.yaml") -> SiteTerms:
        """The site's categories, departments and complaint subjects, for the ledger, the
        workflow, the reports and the panel."""
        return SiteTerms(categories=self.category_names(), departments=tuple(self.departments),
                         complaint_subjects=tuple(self.complaint_subjects),
                         fallback_category=self.fallback_category,
                         desk_department=self.routing.default_department[self.fallback_category],
                         fallback_complaint_subject=self.fallback_complaint_subject,
                         subject_departments=tuple((n, s.department) for n, s in self.complaint_subjects.items()),
                         source=source)

    @classmethod
    def load(cls, path: Path | None = None) -> DraftingRules:
        """Read and validate a rules file; None means the packaged rules.yaml."""
        if path is None:
            return _packaged()
        return cls._load(path)

    @classmethod
    def _load(cls, path: Path | None) -> DraftingRules:
        if path is None:
            source = resources.files(__package__).joinpath("rules.yaml")
            name = str(source)
            text = source.read_text(encoding="utf-8")
        else:
            name = str(path)
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise DraftingRulesError(
                    f"{name}: cannot read the drafting rules file: {exc.strerror}"
                ) from exc
        return cls.from_yaml(text, source_name=name)

    @classmethod
    def from_yaml(cls, text: str, *, source_name: str = "<rules>") -> DraftingRules:
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise DraftingRulesError(f"{source_name}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise DraftingRulesError(f"{source_name}: expected a mapping of rule sections at the top level")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"key {'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}" for err in exc.errors()
            )
            raise DraftingRulesError(f"{source_name}: invalid drafting rules: {problems}") from exc


@lru_cache(maxsize=1)
def _packaged() -> DraftingRules:
    """The packaged rules.yaml, read once per process (the rules are frozen)."""
    return DraftingRules._load(None)


def packaged_terms() -> SiteTerms:
    """The packaged rules' site terms: the default where no site's rules are given (tools, tests)."""
    return _packaged().site_terms()


def site_terms_of(path: Path | None) -> SiteTerms:
    """The site terms of the rules file `path` (None: the packaged one), named after the file."""
    return DraftingRules.load(path).site_terms(source=str(path) if path is not None else "rules.yaml")
