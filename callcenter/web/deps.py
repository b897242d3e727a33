"""What the routers are handed: the services the composition root built (`WebServices`), as typed
FastAPI dependencies. The app keeps one object on its state (`app.state.web`); only this module
reads it.

    def route(ledger: Ledger, wf: Workflow, who: Principal = Depends(current_principal)): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from callcenter.accounts import Accounts
from callcenter.drafting.serving import ModelProvider
from callcenter.drafting.settings import DraftingSettings
from callcenter.estates.directory import Estates
from callcenter.events import EventBus
from callcenter.ledger.service import LedgerService
from callcenter.qa.jobs import ScoringJobs
from callcenter.qa.service import QaService
from callcenter.recordings.interface import RecordingStore
from callcenter.reports.settings import ReportSettings
from callcenter.staffing.lines import StaffLines
from callcenter.web.presence import EditingPresence
from callcenter.web.ratelimit import LoginLimiter
from callcenter.web.sessions import LiveConnections
from callcenter.web.settings import WebSettings
from callcenter.workflow.cases import CaseWorkflow


class CallbackDialer(Protocol):
    """Places a callback through the SIP agent (calls.callback_dialer.CallbackDialer)."""

    def place(self, task_id: int, extension: str, actor: str, actor_id: int | None) -> object: ...


class TakeOver(Protocol):
    """The panel's 「接听」 (calls.desk.StaffDesk): ring the clerk's extension, bridge the caller."""

    def request_takeover(self, sip_call_id: str, extension: str) -> bool: ...

    def request_listen(self, sip_call_id: str, extension: str, username: str = "") -> bool: ...


class AgentCommands(Protocol):
    """Sends 「接听」/监听 to the agent process that owns the call (scale.commands.CommandSender);
    raises scale.commands.AgentGone when that agent is not running."""

    def send(self, agent_id: str, kind: str, sip_call_id: str, extension: str, asked_by: str) -> int: ...


@dataclass
class WebServices:
    """What the panel and API need, built by the composition root (callcenter/app.py)."""

    ledger: LedgerService
    accounts: Accounts
    bus: EventBus
    recordings: RecordingStore
    settings: WebSettings
    qa: QaService | None = None  # 质检 (issue 5); without it /api/qa answers 503
    workflow: CaseWorkflow | None = None  # work orders, callbacks, clocks; 503 without it
    dialer: CallbackDialer | None = None  # places callbacks through the SIP agent; 503 without it
    system_status: Callable[[], dict[str, Any]] | None = None  # the transcription backlog; 503 without it
    report_settings: ReportSettings | None = None  # the site's `reports:`; the defaults without it
    draft_models: ModelProvider | None = None  # the serving draft model; /api/drafting/models 503 without it
    drafting_settings: DraftingSettings | None = None  # the 「请核对」 threshold; the defaults without it
    staff: StaffLines | None = None  # users' extensions and presence; /api/staff 503 without it
    takeover: TakeOver | None = None  # 「接听」 on live calls of this process
    # 「接听」 on calls of agent processes (PostgreSQL); with neither, /take and /listen answer 503
    commands: AgentCommands | None = None
    estates: Estates | None = None  # the estates (项目) served; the ledger's without it



@dataclass
class WebState:
    """Everything a request may need: the services, and the web layer's own parts."""

    services: WebServices
    login_limiter: LoginLimiter
    live: LiveConnections  # the websockets of each session, closed when it ends
    presence: EditingPresence  # who has which entry open (「正在编辑」)
    scoring: ScoringJobs | None = None  # QA pre-scores in the background; None without QA


def web_state(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state


def _services(conn: HTTPConnection) -> WebServices:
    return web_state(conn).services


def _ledger(conn: HTTPConnection) -> LedgerService:
    return _services(conn).ledger


def _accounts(conn: HTTPConnection) -> Accounts:
    return _services(conn).accounts


def _recordings(conn: HTTPConnection) -> RecordingStore:
    return _services(conn).recordings


def _bus(conn: HTTPConnection) -> EventBus:
    return _services(conn).bus


def _web_settings(conn: HTTPConnection) -> WebSettings:
    return _services(conn).settings


def _report_settings(conn: HTTPConnection) -> ReportSettings:
    return _services(conn).report_settings or ReportSettings()


def _workflow(conn: HTTPConnection) -> CaseWorkflow | None:
    return _services(conn).workflow


def _qa(conn: HTTPConnection) -> QaService | None:
    return _services(conn).qa


def _dialer(conn: HTTPConnection) -> CallbackDialer | None:
    return _services(conn).dialer


def _staff(conn: HTTPConnection) -> StaffLines | None:
    return _services(conn).staff


def _takeover(conn: HTTPConnection) -> TakeOver | None:
    return _services(conn).takeover


def _commands(conn: HTTPConnection) -> AgentCommands | None:
    return _services(conn).commands


def _system_status(conn: HTTPConnection) -> Callable[[], dict[str, Any]] | None:
    return _services(conn).system_status


def _draft_models(conn: HTTPConnection) -> ModelProvider | None:
    return _services(conn).draft_models


def _estates(conn: HTTPConnection) -> Estates:
    services = _services(conn)
    return services.estates or services.ledger.estates


def _drafting_settings(conn: HTTPConnection) -> DraftingSettings:
    return _services(conn).drafting_settings or DraftingSettings()


T = TypeVar("T")
# What a route answers (503) when this process was built without the service it needs; checked
# in the route, after authentication and the request's validation (401, 422 come first).
NO_WORKFLOW = "工作流未启用 / the workflow is not running in this process"
NO_QA = "质检服务未启用"
NO_DIALER = "本机未启用外呼 / outbound calling is not available in this process"
NO_DRAFT_MODELS = "草稿模型未配置"
NO_STAFF = "分机与在岗状态不可用"
NO_TAKEOVER = "本机不接听来电，无法接听转接 / this process takes no calls"
NO_STATUS = "系统状态不可用"  # an app built without the composition root (tests of single routers)


def available(service: T | None, refusal: str) -> T:
    if service is None:
        raise HTTPException(503, refusal)
    return service


def _live(conn: HTTPConnection) -> LiveConnections:
    return web_state(conn).live


def _login_limiter(conn: HTTPConnection) -> LoginLimiter:
    return web_state(conn).login_limiter


Services = Annotated[WebServices, Depends(_services)]
Ledger = Annotated[LedgerService, Depends(_ledger)]
AccountBook = Annotated[Accounts, Depends(_accounts)]
Recordings = Annotated[RecordingStore, Depends(_recordings)]
Bus = Annotated[EventBus, Depends(_bus)]
Settings = Annotated[WebSettings, Depends(_web_settings)]
Reports = Annotated[ReportSettings, Depends(_report_settings)]
# Optional services (None where the process has none): pass them through `available`.
Workflow = Annotated[CaseWorkflow | None, Depends(_workflow)]
Qa = Annotated[QaService | None, Depends(_qa)]
Dialer = Annotated[CallbackDialer | None, Depends(_dialer)]
Staff = Annotated[StaffLines | None, Depends(_staff)]
TakeOvers = Annotated[TakeOver | None, Depends(_takeover)]
Commands = Annotated[AgentCommands | None, Depends(_commands)]
SystemStatus = Annotated[Callable[[], dict[str, Any]] | None, Depends(_system_status)]
DraftModels = Annotated[ModelProvider | None, Depends(_draft_models)]
Drafting = Annotated[DraftingSettings, Depends(_drafting_settings)]
Live = Annotated[LiveConnections, Depends(_live)]


def _presence(conn: HTTPConnection) -> EditingPresence:
    return web_state(conn).presence


Presence = Annotated[EditingPresence, Depends(_presence)]


def _scoring(conn: HTTPConnection) -> ScoringJobs | None:
    return web_state(conn).scoring


Scoring = Annotated[ScoringJobs | None, Depends(_scoring)]
EstateList = Annotated[Estates, Depends(_estates)]
Limiter = Annotated[LoginLimiter, Depends(_login_limiter)]
