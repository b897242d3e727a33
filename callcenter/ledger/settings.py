from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        "sqlite:///data/callcenter.db",
        description="SQLAlchemy URL. SQLite (default, WAL mode) or postgresql+psycopg://user:pw@host/db",
    )
    outbox_dir: Path = Field(
        Path("data/outbox"),
        description="Local durable queue (SQLite file) of call-path ledger writes made while the "
        "database was locked or down; replayed in order when it is back. Keep it on local disk.",
    )
    outbox_drain_interval_s: float = Field(
        2.0, gt=0, le=60, description="How often the outbox retries the database while writes are pending"
    )
    busy_timeout_s: float = Field(
        5.0, gt=0, le=60,
        description="How long a write waits for a locked SQLite database before giving up: the panel then "
        "answers 503 「数据库忙，请稍后重试」 at once and retries, instead of hanging",
    )
    call_write_timeout_s: float = Field(
        3.0, gt=0, le=30,
        description="How long a call's ledger write waits for a locked SQLite database before the "
        "write goes to the outbox instead (the call never waits longer)",
    )
