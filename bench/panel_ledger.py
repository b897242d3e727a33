"""Ledger list, filter, search and export latency through the HTTP API at 10k and 100k entries.

Fills a fresh database with synthetic entries (a tenth of them with a recorded, transcribed call),
then times each request N times with a bearer token, as a script or the panel would send it.
Covers the first page, a deep page by keyset `cursor` against `offset`, and searches of 1, 2
(LIKE fallback) and 3+ characters (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), common and rare.

    .venv/bin/python bench/panel_ledger.py [--sizes 10000 100000] [--url postgresql+psycopg://...]
    PYTHONPATH=. .venv/bin/python bench/panel_ledger.py --postgres   # a throw-away cluster, as the tests use

Without --url a temporary SQLite file is used. A PostgreSQL URL must point at an empty database.
`--estates N` spreads the entries over N estates (项目) and times the requests of a clerk assigned
to one of them (every query then carries the estate scope).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from callcenter.accounts import Accounts
from callcenter.clock import SystemClock
from callcenter.drafting.rules import packaged_terms
from callcenter.estates.directory import sync_estates
from callcenter.estates.scope import assign_estates
from callcenter.estates.settings import EstateSettings
from callcenter.events import EventBus
from callcenter.ledger import db
from callcenter.ledger.models import Call, Entry
from callcenter.ledger.search import Cursor
from callcenter.ledger.service import LedgerService
from callcenter.recordings.settings import RecordingSettings
from callcenter.recordings.store import WavRecordingStore
from callcenter.web.app import WebServices, create_app
from callcenter.web.settings import WebSettings

PROBLEMS = ["厨房水管爆了", "楼道灯不亮", "电梯困人", "门口保安睡觉", "垃圾没人清", "停车位被占", "家里停电",
            "下水道堵了", "邻居装修噪音", "绿化带被踩"]
CATEGORIES, DEPARTMENTS = packaged_terms().categories, packaged_terms().departments
STATUSES = ["registered"] * 6 + ["draft", "dispatched", "completed", "closed"]


def fill(url: str, n: int, estates: int = 1) -> None:
    engine = db.make_engine(url)
    rng = random.Random(n)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 5000
    with engine.begin() as conn:
        for start in range(0, n, batch):
            rows: list[dict[str, Any]] = []
            for i in range(start, min(n, start + batch)):
                at = t0 + timedelta(seconds=i * 300)
                rows.append(dict(id=i + 1, created_at=at, updated_at=at, kind="call", source="phone",
                                 status=rng.choice(STATUSES), caller_number=f"138{rng.randrange(10**8):08d}",
                                 caller_name="", unit=f"{rng.randint(1, 30)}-{rng.randint(1, 4)}-{rng.randint(1, 30)}0{rng.randint(1, 4)}",
                                 category=rng.choice(CATEGORIES), department=rng.choice(DEPARTMENTS),
                                 urgent=rng.random() < 0.05, summary=rng.choice(PROBLEMS) + f"（{i}）",
                                 repeat_count=0, interrupted=False, estate_id=i // 7 % estates + 1))
            conn.execute(insert(Entry), rows)
            calls = [dict(sip_call_id=f"bench-{r['id']}", caller_number=r["caller_number"], caller_display="",
                          called_number="hotline", direction="inbound", status="ended", end_reason="caller_hangup",
                          received_at=r["created_at"], entry_id=r["id"], dtmf="", recording_key="", recording_sha256="",
                          recording_interrupted=False, transcript_status="done",
                          transcript_text="您好，我家" + r["summary"] + "，麻烦派人来看看。", transcript_engine="bench",
                          estate_id=r["estate_id"])
                     for r in rows if r["id"] % 10 == 0]
            conn.execute(insert(Call), calls)
        if url.startswith("postgresql"):
            conn.execute(text("SELECT setval('entry_id_seq', (SELECT max(id) FROM entry))"))
            conn.execute(text("ANALYZE"))
    engine.dispose()


def time_requests(client: TestClient, n: int, repeat: int) -> list[tuple[str, float, float, int]]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def cursor_after(entry_id: int) -> str:  # fill(): entry i+1 was created at t0 + 300 s * i
        return Cursor(t0 + timedelta(seconds=300 * (entry_id - 1)), entry_id).encode()

    # Newest first, so the row before position k is entry n - k + 1.
    cases = {
        "list page 1 (50)": ("/api/entries", {}),
        "middle page via offset": ("/api/entries", {"offset": n // 2}),
        "middle page via cursor": ("/api/entries", {"cursor": cursor_after(n - n // 2 + 1)}),
        "last page via offset": ("/api/entries", {"offset": n - 50}),
        "last page via cursor": ("/api/entries", {"cursor": cursor_after(51)}),
        "filter status+category": ("/api/entries", {"status": "registered", "category": "报修"}),
        "filter unit": ("/api/entries", {"unit": "4-2-301"}),
        "filter date range (1 day)": ("/api/entries", {"since": "2026-01-10T00:00:00Z", "until": "2026-01-11T00:00:00Z"}),
        "filter urgent": ("/api/entries", {"urgent": "true"}),
        "search 4 chars (10% hit)": ("/api/entries", {"q": "电梯困人"}),
        "search 3 chars, transcripts": ("/api/entries", {"q": "派人来"}),
        "search 3 chars, rare": ("/api/entries", {"q": f"（{n // 2}）"}),
        "search 2 chars (LIKE)": ("/api/entries", {"q": "电梯"}),
        "search 1 char (LIKE)": ("/api/entries", {"q": "堵"}),
        "search no hit (4 chars)": ("/api/entries", {"q": "不存在的词"}),
        "screen pop (history)": ("/api/callers/history", {"number": "13800138000", "unit": "4-2-301"}),
    }
    out = []
    for name, (path, params) in cases.items():
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = client.get(path, params=params)
            samples.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
        total = r.json().get("total", len(r.json().get("open_entries", [])))
        out.append((name, statistics.median(samples), max(samples), total))
    t = time.perf_counter()
    r = client.get("/api/entries/export.csv", params={"category": "投诉"})
    out.append(("export CSV (all 投诉)", (time.perf_counter() - t) * 1000, 0.0, r.text.count("\n") - 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--url", default="", help="PostgreSQL URL of an empty database (default: SQLite)")
    ap.add_argument("--postgres", action="store_true",
                    help="start a throw-away PostgreSQL cluster (as the tests do) and use it")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--estates", type=int, default=1, help="entries spread over this many estates; the clerk "
                                                            "timed is assigned to the first")
    args = ap.parse_args()
    if args.postgres:
        from tests.dbs import postgres_cluster

        with postgres_cluster() as url:
            args.url = url
            run(args)
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite:///{tmp}/bench.db"
            if args.url:
                eng = db.make_engine(url)
                with eng.begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                eng.dispose()
            db.upgrade(url)
            engine = db.make_engine(url)
            estates = sync_estates(engine, SystemClock(), [
                EstateSettings(code=f"e{k}", name=f"项目{k}", numbers=[f"800{k}"]) for k in range(1, args.estates + 1)])
            t = time.perf_counter()
            fill(url, n, args.estates)
            fill_s = time.perf_counter() - t
            bus = EventBus()
            accounts = Accounts(engine, SystemClock())
            accounts.add_user("bench", "clerk", "bench-password")
            if args.estates > 1:
                assign_estates(engine, estates, "bench", ["e1"])
            app = create_app(WebServices(
                ledger=LedgerService(engine, SystemClock(), bus, estates=estates), accounts=accounts, bus=bus,
                recordings=WavRecordingStore(RecordingSettings(root=Path(tmp) / "rec"), background_flush=False),
                settings=WebSettings(secret_file=Path(tmp) / "secret.key")))
            client = TestClient(app, headers={"Authorization": f"Bearer {accounts.create_token('bench')}"})
            backend = url.split(":", 1)[0]
            scope = f", over {args.estates} estates, a clerk of one" if args.estates > 1 else ""
            print(f"\n{backend}, {n} entries ({n // 10} with transcripts){scope}, filled in {fill_s:.1f} s; "
                  f"median / max of {args.repeat} requests")
            print(f"{'request':30} {'median ms':>10} {'max ms':>8} {'total':>7}")
            for name, med, mx, total in time_requests(client, n, args.repeat):
                print(f"{name:30} {med:10.1f} {mx:8.1f} {total:7}")
            engine.dispose()


if __name__ == "__main__":
    main()
