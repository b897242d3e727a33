"""What the notifiers deliver: one immutable notice for on-duty staff (值班人员)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
# Shown to staff in group chats and the panel (one set for both).
SEVERITY_LABELS: dict[str, str] = {"info": "通知", "warning": "提醒", "critical": "紧急"}

# The kinds the product raises today; settings refuse other names so a typo cannot silence a filter.
KINDS: dict[str, str] = {
    "overdue": "超时未办",
    "urgent": "紧急来电",
    "missed_call": "未接来电",
    "unsatisfied": "回访不满意",
    "handover": "交接班",
    "escalation": "升级上报",
    "report": "统计报表",
}


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Notice:
    """One thing on-duty staff must know. Title and body are Chinese plain text for people."""

    kind: str
    severity: Severity
    title: str
    body: str
    entry_id: int | None
    audience: tuple[str, ...]  # roles: 'clerk', 'supervisor', 'project_head', ...
    link: str = ""  # path in the panel, e.g. '/#/entries/12'; the base URL comes from settings
    mention_mobiles: tuple[str, ...] = ()
    estate_id: int | None = None  # the estate (项目) of its entry: estates route to their own robots

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")
        if not self.kind:
            raise ValueError("a notice needs a kind, e.g. 'overdue'")
        if not self.title.strip():
            raise ValueError("a notice needs a title")
        # Lists sneak in from callers; tuples keep the notice hashable and truly immutable.
        object.__setattr__(self, "audience", tuple(self.audience))
        object.__setattr__(self, "mention_mobiles", tuple(self.mention_mobiles))
        if not self.audience:
            raise ValueError("a notice must name at least one audience role, e.g. ('clerk',)")
        if self.link and not self.link.startswith("/"):
            raise ValueError(f"link is a path in the panel starting with '/', got {self.link!r}")

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS[self.severity]

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"severity_label": self.severity_label}
