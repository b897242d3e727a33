"""Each estate's own prompts: the clips that say the estate's name (the greeting, the missed-call
callback's opening) live in `<prompts.dir>/estates/<code>/`; every other clip is the site's.

`callcenter prompts build` synthesizes them offline like the others; a studio recording put in
that folder under the same name replaces a built one (and is never overwritten).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.audio.prompts import PromptLibrary
from callcenter.audio.settings import PromptSettings
from callcenter.estates.directory import Estate, Estates
from callcenter.estates.settings import EstateSettings

if TYPE_CHECKING:
    from callcenter.audio.prompt_build import BuildReport

ESTATE_KEYS = ("greeting", "missed_callback")  # the clips that name the estate


def estate_prompt_settings(base: PromptSettings, estate: Estate) -> PromptSettings:
    texts = dict(base.texts)
    if estate.greeting:
        texts["greeting"] = estate.greeting
    return base.model_copy(update={"estate_name": estate.name, "texts": texts,
                                   "dir": Path(base.dir) / "estates" / estate.code})


class EstatePrompts:
    """The prompts a caller of one estate hears: its own ESTATE_KEYS, the site's for the rest."""

    def __init__(self, site: PromptLibrary, settings: PromptSettings) -> None:
        self.site = site
        self.own = PromptLibrary(settings)

    def keys(self) -> list[str]:
        return self.site.keys()

    def text(self, key: str) -> str:
        return (self.own if key in ESTATE_KEYS else self.site).text(key)

    def path(self, key: str) -> Path:
        return (self.own if key in ESTATE_KEYS else self.site).path(key)

    def get(self, key: str) -> bytes:
        return (self.own if key in ESTATE_KEYS else self.site).get(key)

    def number(self, digits: str) -> bytes:
        return self.site.number(digits)

    def preload(self) -> None:
        for key in ESTATE_KEYS:
            self.own.get(key)


def estate_prompts(site: PromptLibrary, estates: Estates, configured: bool) -> dict[int, EstatePrompts]:
    """Prompts per estate id. A site without `estates:` keeps its one greeting (nothing to add)."""
    if not configured:
        return {}
    return {e.id: EstatePrompts(site, estate_prompt_settings(site.settings, e)) for e in estates.active()}


def build_estate_prompts(base: PromptSettings, estates: Sequence[EstateSettings], *,
                         force: bool = False) -> list[BuildReport]:
    """`callcenter prompts build`: each configured estate's ESTATE_KEYS into its own folder."""
    from callcenter.audio.prompt_build import build_default_prompts  # numpy, espeak-ng: only when building

    reports = []
    for e in estates:
        settings = estate_prompt_settings(base, Estate(id=0, code=e.code, name=e.name, greeting=e.greeting))
        reports.append(build_default_prompts(settings, force=force, only=ESTATE_KEYS))
    return reports
