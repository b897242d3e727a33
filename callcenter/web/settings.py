from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.accounts import DEFAULT_MIN_PASSWORD_LENGTH


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address the panel/API listens on")
    port: int = Field(8000, ge=1, le=65535)
    secret_file: Path = Field(Path("data/secret.key"),
                              description="Key that signs session cookies; created on first start")
    session_max_age_s: int = Field(8 * 3600, ge=300, description="A login lasts one shift by default")
    session_check_s: float = Field(5.0, gt=0, le=300,
                                   description="How often an open live-events connection re-checks that its "
                                               "login is still valid (a logout in this process closes it at once)")
    secure_cookies: bool = Field(False, description="Set true when the panel is served over HTTPS (cookies are "
                                                    "then sent over HTTPS only; also automatic when the request "
                                                    "arrives over TLS)")
    allowed_origins: list[str] = Field(default_factory=list,
                                       description="Other origins the panel is opened from (e.g. "
                                                   "https://hotline.example behind a TLS proxy); the panel's own "
                                                   "host is always allowed")
    trusted_proxies: list[str] = Field(default_factory=list,
                                       description="Addresses or networks of reverse proxies whose "
                                                   "X-Forwarded-For is believed (e.g. 127.0.0.1); empty: the "
                                                   "client address is the peer's")
    password_min_length: int = Field(DEFAULT_MIN_PASSWORD_LENGTH, ge=8, le=128,
                                     description="Shortest password a user may set")
    max_body_bytes: int = Field(1024 * 1024, ge=4096, description="Largest request body of an ordinary API call")
    max_import_bytes: int = Field(11 * 1024 * 1024, ge=4096,
                                  description="Largest upload of the residents CSV import (the file itself is "
                                              "limited to 10 MB)")
    login_attempts_per_address: str = Field("30/minute", description="Login attempts one client address may make")
    login_failures_per_user: str = Field("5 per 5 minutes",
                                         description="Failed logins for one user from one address")
    login_failures_per_account: str = Field("50 per hour",
                                            description="Failed logins for one user from all addresses; over it, "
                                                        "only the addresses that failed are refused")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from exc
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry.startswith(("http://", "https://")) or entry.count("/") != 2:
                raise ValueError(f"{entry!r}: an origin is scheme://host[:port], e.g. https://hotline.example")
        return [e.rstrip("/") for e in value]

    @field_validator("login_attempts_per_address", "login_failures_per_user", "login_failures_per_account")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r}: write a rate like '30/minute' or '5 per 5 minutes'") from exc
        return value
