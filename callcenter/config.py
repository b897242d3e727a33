"""config.yaml loaded into one frozen, validated settings object.

Unknown keys are errors (a typo must not silently become a default). Environment variables
override the file: CALLCENTER_DATABASE__URL=postgresql+psycopg://... (double underscore = nesting).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from callcenter.asr.settings import AsrSettings
from callcenter.audio.settings import PromptSettings, VadSettings
from callcenter.calls.flow import FlowSettings
from callcenter.drafting.rules import site_terms_of
from callcenter.drafting.settings import DraftingSettings
from callcenter.drafting.terms import SiteTerms
from callcenter.estates.directory import configured
from callcenter.estates.settings import EstateSettings, check_estates
from callcenter.ledger.settings import DatabaseSettings
from callcenter.notify.settings import NotifySettings
from callcenter.qa.settings import QaSettings
from callcenter.recordings.settings import RecordingSettings
from callcenter.reports.settings import ReportSettings
from callcenter.staffing.settings import TransferSettings
from callcenter.telephony.settings import SipSettings
from callcenter.web.settings import WebSettings
from callcenter.workflow.settings import WorkflowSettings

DEFAULT_CONFIG = Path("config.yaml")


class LoggingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    json_output: bool = Field(False, description="One JSON object per line (for log collectors)")
    mask_phone_numbers: bool = Field(True, description="Phone and ID numbers in log lines shown as 138****8000 "
                                                       "(set false only to debug a site's number handling)")


class Settings(BaseSettings):
    # hide_input_in_errors: a webhook URL carries its robot's key; errors must not print it
    model_config = SettingsConfigDict(extra="forbid", frozen=True, env_prefix="CALLCENTER_",
                                      env_nested_delimiter="__", hide_input_in_errors=True)

    sip: SipSettings = SipSettings()
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    recording: RecordingSettings = RecordingSettings()
    asr: AsrSettings = AsrSettings()
    prompts: PromptSettings = PromptSettings()
    vad: VadSettings = VadSettings()
    flow: FlowSettings = FlowSettings()
    transfer: TransferSettings = TransferSettings()
    drafting: DraftingSettings = DraftingSettings()
    workflow: WorkflowSettings = WorkflowSettings()
    notify: NotifySettings = NotifySettings()
    qa: QaSettings = QaSettings()
    reports: ReportSettings = ReportSettings()
    logging: LoggingSettings = LoggingSettings()
    # The estates (项目) served; none: one estate from prompts.estate_name (callcenter/estates).
    estates: list[EstateSettings] = []

    @model_validator(mode="after")
    def _estates_consistent(self) -> Settings:
        problems = check_estates(self.estates, self.workflow, [w.name for w in self.notify.webhooks])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def configured_estates(self) -> list[EstateSettings]:
        """The estates to serve: `estates:`, or the one estate of a single-estate site."""
        return configured(self.estates, self.prompts.estate_name)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment overrides the file


class ConfigError(ValueError):
    """A config problem explained for a site administrator: which key, what is wrong, the fix."""


def load_settings(path: Path | None = None) -> Settings:
    """The settings from `path` (`-c`), else $CALLCENTER_CONFIG, else ./config.yaml if it exists
    (else the embedded defaults). A file named by -c or the environment must exist: a mistyped
    name must not silently run on defaults."""
    named = path is not None or "CALLCENTER_CONFIG" in os.environ
    path = path or Path(os.environ.get("CALLCENTER_CONFIG", DEFAULT_CONFIG))
    data: dict[str, Any] = {}
    if named and not path.is_file():
        raise ConfigError(f"{path}: no such config file (check the -c option or CALLCENTER_CONFIG); "
                          f"`callcenter config defaults > {path.name}` writes one with every setting")
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (sip:, database:, ...)")
        data = loaded or {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(explain(path, exc)) from exc


def load_site_terms(settings: Settings) -> SiteTerms:
    """The site's categories, departments and complaint subjects from its drafting rules file
    (validated: DraftingRulesError names the file and the key), with the settings that name a
    category checked against them."""
    terms = site_terms_of(settings.drafting.rules_file)
    rates = settings.workflow.callback_rates
    if "by_category" in rates.model_fields_set:  # set by the site, not the packaged default
        unknown = [c for c in rates.by_category if c not in terms.categories]
        if unknown:
            raise ConfigError(f"workflow.callback_rates.by_category: unknown category {', '.join(unknown)}; "
                              f"the categories of {terms.source} are {', '.join(terms.categories)}")
    menu = [c for c in settings.flow.category_keys.values() if c not in terms.categories]
    if menu:
        raise ConfigError(f"flow.category_keys: unknown category {', '.join(menu)}; "
                          f"the categories of {terms.source} are {', '.join(terms.categories)}")
    return terms


def explain(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s) in the configuration:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown setting (a typo?). Remove it or check the spelling "
                         f"against the documented config.yaml.")
        else:
            given = err.get("input")
            shown = "" if isinstance(given, dict) else f" (got {given!r})"
            lines.append(f"  - {key}: {err['msg']}{shown}")
    return "\n".join(lines)


def documented_defaults() -> str:
    """config.yaml text with every setting at its default, each with its description."""
    lines = ["# callcenter configuration. Every key is shown at its default; unknown keys are errors.",
             "# Check a changed file with `callcenter config check`. Environment variables override",
             "# it: CALLCENTER_<SECTION>__<KEY>, e.g. CALLCENTER_DATABASE__URL.", ""]
    defaults = Settings().model_dump(mode="json")
    for section, field in Settings.model_fields.items():
        if section == "estates":
            lines.extend(_estates_doc())
            continue
        model = field.annotation
        lines.append(f"{section}:")
        for key, sub in model.model_fields.items():  # type: ignore[union-attr]
            if sub.description:
                for chunk in _wrap(sub.description):
                    lines.append(f"  # {chunk}")
            value = yaml.safe_dump({key: defaults[section][key]}, allow_unicode=True, sort_keys=False,
                                   default_flow_style=False, width=100).rstrip("\n")
            lines.extend("  " + v for v in value.splitlines())
        lines.append("")
    return "\n".join(lines)


def _estates_doc() -> list[str]:
    """The `estates:` list is empty by default; its keys are documented with an example."""
    lines = ["# Several estates (项目) served by this one installation. Empty: one estate named",
             "# prompts.estate_name, answering every number (a single-estate site). The first estate is the",
             "# default: calls to a number no estate lists, and data from before estates, belong to it.",
             "# Each item:"]
    for key, sub in EstateSettings.model_fields.items():
        for i, chunk in enumerate(_wrap(sub.description or "", 90)):
            lines.append(f"#   {key + ':' if i == 0 else ' ' * (len(key) + 1)} {chunk}")
    lines += ["# Example:",
              "#   - {code: xfjy, name: 幸福家园, numbers: ['057188881234']}",
              "#   - {code: hyhf, name: 和园华府, numbers: ['057188885678'], rules_file: rules-hyhf.yaml}",
              "estates: []", ""]
    return lines


def _wrap(text: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]
