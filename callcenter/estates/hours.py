"""Each estate's business hours and holidays: the site's `workflow:` with what the estate sets
itself (config.yaml `estates[].business_open/close/weekdays/holidays`). The case clocks of an
entry count the hours of its estate."""

from __future__ import annotations

from callcenter.estates.directory import Estate, Estates
from callcenter.ledger.models import Entry
from callcenter.workflow.settings import WorkflowSettings

_cache: dict[tuple[int, int], WorkflowSettings] = {}


def workflow_for(site: WorkflowSettings, estate: Estate | None) -> WorkflowSettings:
    """The workflow settings the estate's clocks run on (the site's when it sets no hours)."""
    if estate is None or not estate.hours:
        return site
    key = (id(site), estate.id)
    found = _cache.get(key)
    if found is None:
        found = WorkflowSettings.model_validate({**site.model_dump(), **estate.hours})
        _cache[key] = found
    return found


def workflow_of_entry(site: WorkflowSettings, estates: Estates, entry: Entry) -> WorkflowSettings:
    return workflow_for(site, estates.by_id(entry.estate_id))
