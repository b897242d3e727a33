"""`callcenter ...`: run the service and administer a site."""

from __future__ import annotations

import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

app = typer.Typer(help="物业客服热线 callcenter: SIP agent, recordings, transcripts, ledger.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
users_app = typer.Typer(help="Panel users and roles", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts", no_args_is_help=True)
models_app = typer.Typer(help="The speech-recognition model", no_args_is_help=True)
prompts_app = typer.Typer(help="Prompt audio the caller hears", no_args_is_help=True)
residents_app = typer.Typer(help="The residents directory", no_args_is_help=True)
db_app = typer.Typer(help="The database", no_args_is_help=True)
config_app = typer.Typer(help="The configuration file", no_args_is_help=True)
reports_app = typer.Typer(help="Statistics (统计分析)", no_args_is_help=True)
drafting_app = typer.Typer(help="The draft model (category, department, subject) and its versions",
                           no_args_is_help=True)
for sub, name in ((users_app, "users"), (token_app, "token"), (models_app, "models"),
                  (prompts_app, "prompts"), (residents_app, "residents"), (db_app, "db"),
                  (config_app, "config"), (reports_app, "reports"), (drafting_app, "drafting")):
    app.add_typer(sub, name=name)

OWNER_ONLY_UMASK = 0o077
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="config.yaml (default: ./config.yaml "
                                                                         "or $CALLCENTER_CONFIG)")]


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _settings(config: Path | None):  # type: ignore[no-untyped-def]
    from callcenter.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))


def _ledger_parts(config: Path | None):  # type: ignore[no-untyped-def]
    """Database-only parts, for admin commands that must not start the SIP agent."""
    from callcenter.accounts import Accounts
    from callcenter.clock import SystemClock
    from callcenter.config import ConfigError, load_site_terms
    from callcenter.drafting.rules import DraftingRulesError
    from callcenter.events import EventBus
    from callcenter.ledger import db
    from callcenter.ledger.service import LedgerService

    settings = _settings(config)
    try:  # the site's categories and departments, which the ledger accepts
        terms = load_site_terms(settings)
    except (DraftingRulesError, ConfigError) as exc:
        _fail(str(exc))
    db.upgrade(settings.database.url)
    engine = db.make_engine(settings.database.url)
    clock = SystemClock()
    from callcenter.estates.directory import sync_estates

    estates = sync_estates(engine, clock, settings.configured_estates())
    ledger = LedgerService(engine, clock, EventBus(), callbacks=settings.workflow.callback_sampling, terms=terms,
                           estates=estates)
    return settings, ledger, Accounts(engine, clock, settings.web.password_min_length)


RoleOpt = Annotated[str, typer.Option("--role", help="all: everything in one process (default). With "
                                         "PostgreSQL, several processes: agent (SIP line group), web (panel "
                                         "and scheduler, one per site), worker (transcription jobs). "
                                         "See docs/DEPLOYMENT.md.")]


@app.command()
def serve(config: ConfigOpt = None, role: RoleOpt = "all") -> None:
    """Run the SIP agent, the panel/API and the scheduler (or one of them: --role)."""
    from callcenter.scale.roles import RoleError, check

    if role not in ("all", "agent", "web", "worker"):
        _fail(f"--role {role}: choose all, agent, web or worker")
    settings = _settings(config)
    try:
        check(role, settings)  # before loading the rest: a refusal comes at once
    except RoleError as exc:
        _fail(str(exc))
    import uvicorn

    from callcenter.app import Application
    from callcenter.config import ConfigError
    from callcenter.drafting.rules import DraftingRulesError
    from callcenter.logs import configure_logging

    configure_logging(settings.logging)
    from callcenter.files import looser_than_owner_only

    for warning in looser_than_owner_only(settings):
        logging.getLogger("callcenter").warning(warning)
    try:
        application = Application(settings, role=role)  # type: ignore[arg-type]
    except (RoleError, ConfigError, DraftingRulesError) as exc:  # explained for the administrator
        _fail(str(exc))
    # Before start(): the agent registers (and may answer) while the rest starts, and a SIGTERM
    # then (systemd stopping a slow start) must still unREGISTER and end calls, not kill outright.
    _stop_on_sigterm()
    try:
        try:
            application.start()
        except Exception as exc:  # the `finally` stops what did start
            _fail(f"callcenter could not start: {exc}")
        if role in ("all", "web"):
            # timeout_graceful_shutdown: SIGTERM stops the panel within seconds, whatever is open
            uvicorn.run(application.web_app(), host=settings.web.host, port=settings.web.port,
                        log_level=settings.logging.level.lower(), timeout_graceful_shutdown=3)
        elif role == "worker":
            application.run_worker()  # until SIGTERM; running jobs finish first
        else:
            _wait_for_signal()
    finally:
        application.stop()


def _stop_on_sigterm() -> None:
    """uvicorn catches SIGTERM, shuts the server down and then raises SIGTERM again; with the
    default handler the process dies there and `application.stop()` (unREGISTER, BYE to the calls
    still up) never runs. Our handler turns it into SystemExit, so the `finally` does."""
    import signal

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)


def _wait_for_signal() -> None:
    """Block the main thread until SIGTERM or SIGINT (the agent works on its own threads)."""
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate config.yaml (and the drafting rules file it names) and print the effective settings."""
    from callcenter.config import ConfigError, load_site_terms
    from callcenter.drafting.rules import DraftingRulesError, site_terms_of

    settings = _settings(config)
    try:
        terms = load_site_terms(settings)
        estate_terms = {e.code: site_terms_of(e.rules_file) for e in settings.estates if e.rules_file}
    except (DraftingRulesError, ConfigError) as exc:
        _fail(str(exc))
    typer.echo(settings.model_dump_json(indent=2))
    typer.echo(f"categories ({terms.source}): {'、'.join(terms.categories)}")
    typer.echo(f"departments: {'、'.join(terms.departments)}")
    for e in settings.configured_estates():
        own = estate_terms.get(e.code)
        typer.echo(f"estate {e.code} {e.name}: numbers {', '.join(e.numbers) or '(every number no other estate lists)'}"
                   + (f"; departments ({own.source}): {'、'.join(own.departments)}" if own else ""))
    from callcenter.asr.models import ModelUnavailable, check_model

    try:
        check_model(settings.asr.model_dir)
    except ModelUnavailable as exc:  # calls are still answered; transcription waits for the model
        typer.secho(f"配置有效，但语音模型不可用：{exc}\n  安装：callcenter models fetch（通话照常接听与录音，"
                    f"转写排队等待模型）/ valid, but the speech model is missing", fg=typer.colors.YELLOW)
        return

    typer.secho("配置有效 (configuration is valid)", fg=typer.colors.GREEN)


@config_app.command("defaults")
def config_defaults() -> None:
    """Print a config.yaml with every setting at its default, documented."""
    from callcenter.config import documented_defaults

    typer.echo(documented_defaults())


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply database migrations (also done on every start)."""

    from callcenter.scale.roles import prepare_database

    settings = _settings(config)
    prepare_database(settings)  # Alembic, and the transcription queue's tables in asr.mode: queue
    typer.echo("database is at the newest schema")


@users_app.command("add")
def users_add(name: str, role: Annotated[str, typer.Option(help="clerk / qa / supervisor / admin")],
              password: Annotated[str | None, typer.Option(help="Prompted for when omitted")] = None,
              display_name: str = "", config: ConfigOpt = None) -> None:
    """Create a panel user."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    if password is None:
        password = getpass.getpass("密码 (password): ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        accounts.add_user(name, role, password, display_name)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"user {name} ({role}) created")


@users_app.command("ensure-admin")
def users_ensure_admin(config: ConfigOpt = None) -> None:
    """First start: create user 'admin' with a random password (printed once) if there are no users."""
    import secrets

    from sqlmodel import Session, select

    from callcenter.ledger.models import User

    _, _, accounts = _ledger_parts(config)
    with Session(accounts.engine) as s:
        if s.exec(select(User)).first() is not None:
            return
    password = secrets.token_urlsafe(12)
    accounts.add_user("admin", "admin", password, "管理员")
    typer.secho(f"created the first user: admin / {password}  (change it: callcenter users passwd admin)",
                fg=typer.colors.GREEN)


@users_app.command("passwd")
def users_passwd(name: str, config: ConfigOpt = None) -> None:
    """Set a user's password (read from the terminal, or one line of stdin)."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    password = getpass.getpass("新密码 (new password): ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        accounts.set_password(name, password)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo("password changed (the user's sessions and API tokens were ended)")


@users_app.command("disable")
def users_disable(name: str, config: ConfigOpt = None) -> None:
    """Disable a user: no more logins; their panel sessions, live connections and API tokens end now."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    try:
        ended = accounts.disable_user(name)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"user {name} disabled ({ended} open session(s) ended, API tokens revoked)")


@users_app.command("enable")
def users_enable(name: str, config: ConfigOpt = None) -> None:
    """Let a disabled user log in again (their old sessions and tokens stay ended)."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    try:
        accounts.enable_user(name)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"user {name} enabled")


@users_app.command("logout")
def users_logout(name: str, config: ConfigOpt = None) -> None:
    """End every panel session of a user (a lost or shared computer); API tokens stay."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    try:
        ended = accounts.end_sessions_of(name)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"{ended} session(s) of {name} ended")


@token_app.command("list")
def token_list(config: ConfigOpt = None) -> None:
    """API tokens: id, user, label, created, and whether revoked (the tokens themselves are not kept)."""
    _, _, accounts = _ledger_parts(config)
    for tid, user, label, created, revoked in accounts.tokens():
        typer.echo(f"{tid}\t{user}\t{label or '-'}\t{created}\t{'revoked' if revoked else 'active'}")


@token_app.command("revoke")
def token_revoke(token: Annotated[str, typer.Argument(help="The token's id (from `token list`) or the token")],
                 config: ConfigOpt = None) -> None:
    """Revoke an API token: requests and live connections using it are refused from now on."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    try:
        tid = accounts.revoke_token(token)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"token {tid} revoked")


@token_app.command("create")
def token_create(user: Annotated[str, typer.Option("--user", help="The user the token acts as")],
                 label: str = "", config: ConfigOpt = None) -> None:
    """Create an API token (printed once; send it as `Authorization: Bearer TOKEN`)."""
    from callcenter.accounts import AccountError

    _, _, accounts = _ledger_parts(config)
    try:
        typer.echo(accounts.create_token(user, label))
    except AccountError as exc:
        _fail(str(exc))


@users_app.command("estates")
def users_estates(name: str, codes: Annotated[list[str] | None, typer.Argument(
        help="Estate codes (estates: in config.yaml); none: back to the role's default scope")] = None,
                  config: ConfigOpt = None) -> None:
    """Assign a user to estates (项目): a clerk sees only these. Without any, a supervisor or admin
    sees every estate, anyone else the default estate."""
    from callcenter.estates.scope import ScopeError, assign_estates

    _, ledger, _ = _ledger_parts(config)
    try:
        names = assign_estates(ledger.engine, ledger.estates, name, codes or [])
    except ScopeError as exc:
        _fail(str(exc))
    typer.echo(f"user {name}: {'、'.join(names) if names else 'the default scope of the role'}")


@residents_app.command("import")
def residents_import(csv_file: Path, config: ConfigOpt = None,
                     estate: Annotated[str | None, typer.Option(
                         help="The estate's code (required when config.yaml lists several estates)")] = None,
                     ) -> None:
    """Import residents from CSV: unit,name,phones[,key_customer][,note]. Bad rows are listed."""
    from callcenter.ledger.directory import import_residents_csv

    _, ledger, _ = _ledger_parts(config)
    target = ledger.estates.by_code(estate) if estate else ledger.estates.default
    if target is None or (estate is None and ledger.estates.several):
        _fail(f"--estate: give one of {', '.join(e.code for e in ledger.estates.active())} "
              f"(the residents of one estate per import)")
    raw = csv_file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="strict")
    result = import_residents_csv(text, ledger, estate_id=target.id)
    for err in result.errors:
        typer.secho(err, fg=typer.colors.YELLOW, err=True)
    typer.echo(f"imported {result.imported} resident(s), {len(result.errors)} row(s) rejected")
    if result.errors:
        raise typer.Exit(1)


@models_app.command("fetch")
def models_fetch(from_path: Annotated[Path | None, typer.Option("--from", help="A zip or directory "
                                                                 "brought by hand (USB stick)")] = None,
                 url: Annotated[str | None, typer.Option(help="Download address (default: official)")] = None,
                 config: ConfigOpt = None) -> None:
    """Download (or install from --from) the Vosk Mandarin model and verify its checksums."""
    from callcenter.asr.models import ModelUnavailable, fetch_model, install_from

    settings = _settings(config)
    dest_root = settings.asr.model_dir.parent
    try:
        if from_path is not None:
            path = install_from(from_path, dest_root, name=settings.asr.model_dir.name)
        else:
            path = fetch_model(dest_root, url or settings.asr.model_url, name=settings.asr.model_dir.name,
                               progress=lambda done, total: typer.echo(
                                   f"\r{done / 1e6:.1f}/{(total or 0) / 1e6:.1f} MB", nl=False))
    except ModelUnavailable as exc:
        _fail(str(exc))
    typer.echo(f"\nmodel installed and verified: {path}")


@models_app.command("check")
def models_check(config: ConfigOpt = None) -> None:
    """Check that the configured model is present and complete."""
    from callcenter.asr.models import ModelUnavailable, check_model

    settings = _settings(config)
    try:
        check_model(settings.asr.model_dir)
    except ModelUnavailable as exc:
        _fail(str(exc))
    typer.echo(f"model ok: {settings.asr.model_dir}")


@models_app.command("eval")
def models_eval(model: Annotated[Path, typer.Option(help="Model directory")],
                data: Annotated[Path, typer.Option(help="Directory with manifest.tsv and WAVs")],
                band: Annotated[str, typer.Option(help="telephone or wide")] = "telephone",
                feed_rate: Annotated[int, typer.Option(help="8000 or 16000")] = 8000) -> None:
    """Character error rate and real-time factor of a model on a labelled set."""
    from callcenter.asr.evaluate import evaluate

    if band not in ("telephone", "wide") or feed_rate not in (8000, 16000):
        _fail("--band is telephone or wide; --feed-rate is 8000 or 16000")
    b: Literal["telephone", "wide"] = "telephone" if band == "telephone" else "wide"
    report = evaluate(model, data, band=b, feed_rate_hz=8000 if feed_rate == 8000 else 16000)
    typer.echo(report.table())


@prompts_app.command("build")
def prompts_build(config: ConfigOpt = None) -> None:
    """Generate the default Mandarin prompts offline (espeak-ng) into the prompts directory."""
    from callcenter.audio.prompt_build import build_default_prompts

    settings = _settings(config)
    report = build_default_prompts(settings.prompts)
    typer.echo(f"prompts ready in {settings.prompts.dir}: {len(report.built)} built, "
               f"{len(report.unchanged)} unchanged, {len(report.kept)} site recording(s) kept")
    from callcenter.estates.prompts import build_estate_prompts

    for r in build_estate_prompts(settings.prompts, settings.estates):  # each estate's greeting
        typer.echo(f"estate prompts ready in {r.out_dir}: {len(r.built)} built, "
                   f"{len(r.unchanged)} unchanged, {len(r.kept)} site recording(s) kept")


XlsxOpt = Annotated[Path | None, typer.Option("--xlsx", help="Also write the report as an Excel file")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Also write a printable HTML report (A4)")]
TzOpt = Annotated[str, typer.Option(help="The site's timezone")]


@reports_app.command("monthly")
def reports_monthly(month: Annotated[str, typer.Option(help="The month, e.g. 2026-11")],
                    tz: Annotated[str, typer.Option(help="The site's timezone")] = "Asia/Shanghai",
                    csv_file: Annotated[Path | None, typer.Option("--csv", help="Also write the figures "
                                                                                 "as CSV")] = None,
                    ring_seconds: Annotated[float, typer.Option(help="Seconds per ring")] = 5.0,
                    xlsx: XlsxOpt = None, html: HtmlOpt = None, config: ConfigOpt = None) -> None:
    """Monthly statistics: categories, departments, nature, status, calls, rings, trend."""
    from zoneinfo import ZoneInfoNotFoundError

    from callcenter.reports import render
    from callcenter.reports.periods import parse_month
    from callcenter.reports.statistics import monthly_statistics

    try:
        period = parse_month(month, tz)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        _fail(f"--month/--tz: {exc}")
    _, ledger, _ = _ledger_parts(config)
    report = monthly_statistics(ledger.engine, period, ring_seconds=ring_seconds)
    typer.echo(render.text(report))
    if csv_file is not None:
        render.write_csv(report, csv_file)
        typer.echo(f"CSV: {csv_file}")
    if xlsx or html:
        _report_files("monthly", period, ledger, xlsx, html)


def _report_files(kind: str, period, ledger, xlsx: Path | None, html: Path | None,  # type: ignore[no-untyped-def]
                  doc=None) -> None:
    from callcenter.reports import documents, export

    doc = doc or documents.build(kind, ledger.engine, period, ledger.clock.now(), terms=ledger.terms)
    if xlsx is not None:
        export.write_atomic(xlsx, export.xlsx_bytes(doc))
        typer.echo(f"XLSX: {xlsx}")
    if html is not None:
        export.write_atomic(html, export.html(doc).encode("utf-8"))
        typer.echo(f"HTML: {html}")


def _report_command(kind: str, key: str | None, tz: str, xlsx: Path | None, html: Path | None,
                    config: Path | None) -> None:
    """Print one report's sections as text, and write the files asked for."""
    from zoneinfo import ZoneInfoNotFoundError

    from callcenter.reports import documents
    from callcenter.reports.periods import parse

    _, ledger, _ = _ledger_parts(config)
    try:
        period = parse(documents.PERIOD_KIND[kind], key, tz) if key \
            else documents.default_period(kind, ledger.clock.now(), tz)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        _fail(f"period/--tz: {exc}")
    doc = documents.build(kind, ledger.engine, period, ledger.clock.now(), terms=ledger.terms)
    typer.echo(f"{doc.heading}（{tz}）")
    for section in doc.sections:
        typer.echo(f"【{section.title}】")
        typer.echo("  " + "\t".join(section.columns))
        for row in section.rows or [("（无）",)]:
            typer.echo("  " + "\t".join("" if v is None else str(v) for v in row))
    _report_files(kind, period, ledger, xlsx, html, doc)


@reports_app.command("weekly")
def reports_weekly(week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W45 (default: last week)")]
                   = None, tz: TzOpt = "Asia/Shanghai", xlsx: XlsxOpt = None, html: HtmlOpt = None,
                   config: ConfigOpt = None) -> None:
    """Weekly hot complaint topics (热点投诉), for the estate manager's unified reply."""
    _report_command("weekly", week, tz, xlsx, html, config)


@reports_app.command("unfinished")
def reports_unfinished(half: Annotated[str | None, typer.Option(help="Half-month, e.g. 2026-11-H2 "
                                                                    "(default: the one just ended)")] = None,
                       tz: TzOpt = "Asia/Shanghai", xlsx: XlsxOpt = None, html: HtmlOpt = None,
                       config: ConfigOpt = None) -> None:
    """Half-monthly list of unfinished items per department (未完成事项)."""
    _report_command("unfinished", half, tz, xlsx, html, config)


@reports_app.command("complaints")
def reports_complaints(month: Annotated[str | None, typer.Option(help="Counting month, e.g. 2026-11 = "
                                                                     "Oct 27 .. Nov 26")] = None,
                       tz: TzOpt = "Asia/Shanghai", xlsx: XlsxOpt = None, html: HtmlOpt = None,
                       config: ConfigOpt = None) -> None:
    """Complaint statistics quantified on the 27th: rates, subjects, status, callback results."""
    _report_command("complaints", month, tz, xlsx, html, config)


def _registry(config: Path | None):  # type: ignore[no-untyped-def]
    from callcenter.drafting.registry import ModelRegistry

    settings = _settings(config)
    return settings, ModelRegistry(settings.drafting.models_dir)


@drafting_app.command("train")
def drafting_train(config: ConfigOpt = None,
                   seed: Annotated[bool, typer.Option("--seed", help="(Re)build the seed model from the packaged "
                                                      "corpus into drafting.models_dir and stop (no database)")] = False,
                   seed_only: Annotated[bool, typer.Option("--seed-only", help="Ignore the site's entries "
                                                          "(no database needed)")] = False) -> None:
    """Retrain on the seed corpus + the confirmed entries; the new version serves only if it
    beats the serving one on the newest held-back entries. --seed builds the seed model only."""
    import json

    from callcenter.drafting.rules import DraftingRules
    from callcenter.learning.retrain import RetrainSettings, retrain

    settings, registry = _registry(config)
    if seed:
        path = registry.ensure_seed(force=True, progress=lambda m: typer.echo(f"  {m}"))
        typer.echo(f"seed model built in {path}")
        return
    engine = None
    if not seed_only:
        from callcenter.ledger import db

        db.upgrade(settings.database.url)
        engine = db.make_engine(settings.database.url)
    rules = DraftingRules.load(settings.drafting.rules_file)
    result = retrain(engine, rules, registry, RetrainSettings(settings.drafting.holdout_share,
                                                              settings.drafting.min_holdout),
                     site=[] if seed_only else None, progress=lambda m: typer.echo(f"  {m}"))
    typer.echo(f"model {result.version}: {result.examples}, {result.seconds:.1f} s")
    typer.echo(f"held-out (leave-one-writer-out) accuracy: {json.dumps(result.metrics, ensure_ascii=False)}")
    typer.echo(("PROMOTED: " if result.promoted else "not promoted: ") + result.reason)


@drafting_app.command("models")
def drafting_models(config: ConfigOpt = None) -> None:
    """Every model version with its metrics; * marks the one serving."""
    _settings_unused, registry = _registry(config)
    for info in registry.versions():
        accuracy = " ".join(f"{f} {info.metrics[f]['draft']:.1%}" for f in ("category", "department", "subject")
                            if isinstance(info.metrics.get(f), dict) and info.metrics[f].get("draft") is not None)
        held = ""
        if info.holdout and info.holdout.get("candidate"):
            held = f" held-back n={info.holdout['n']} score {info.holdout['candidate']['score']}"
        typer.echo(f"{'*' if info.serving else ' '} {info.version:<26} {info.created_at[:19]:<19} "
                   f"examples {info.examples.get('total', '?')} (site {info.examples.get('site', 0)})  "
                   f"cv: {accuracy or '-'}{held}  {info.decision}")


@drafting_app.command("rollback")
def drafting_rollback(config: ConfigOpt = None) -> None:
    """Serve the model that served before the current one."""
    _settings_unused, registry = _registry(config)
    current = registry.current()
    try:
        previous = registry.rollback()
    except LookupError as exc:
        _fail(str(exc))
    typer.echo(f"rolled back from {current} to {previous}; running processes pick it up within a minute")


@drafting_app.command("promote")
def drafting_promote(version: str, config: ConfigOpt = None) -> None:
    """Serve a given version (e.g. one kept but not promoted), whatever its comparison said."""
    _settings_unused, registry = _registry(config)
    registry.promote(version, "promoted by hand")
    typer.echo(f"{version} serves now")


def main() -> None:
    """Everything the service creates (database, outbox, recordings, keys, reports) is the service
    user's alone: phone numbers and password hashes are not for other local users."""
    os.umask(OWNER_ONLY_UMASK)
    logging.basicConfig(level=logging.INFO)
    app()


if __name__ == "__main__":
    main()
