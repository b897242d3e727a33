from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address the panel/API listens on")
    port: int = Field(8000, ge=1, le=65535)
    secret_file: Path = Field(Path("data/secret.key"),
                              description="Key that signs session cookies; created on first start")
    session_max_age_s: int = Field(8 * 3600, ge=300, description="A login lasts one shift by default")
    secure_cookies: bool = Field(False, description="Set true when the panel is served over HTTPS")
