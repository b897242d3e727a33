from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        "sqlite:///data/callcenter.db",
        description="SQLAlchemy URL. SQLite (default, WAL mode) or postgresql+psycopg://user:pw@host/db",
    )
