"""Validated SIP settings; embedded in the global config as `sip:`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A fixed, documented +sip.instance. Keeping it stable across restarts lets the
# registrar replace the previous binding instead of forking INVITEs to dead
# contacts of earlier runs (SIP_NOTES #2). Give each agent process its own value.
DEFAULT_INSTANCE_ID = "urn:uuid:8f1c6a52-3b7e-4c1d-9a0e-2f6b5d4c3a10"


class SipSettings(BaseModel):
    """How the hotline agent talks SIP/RTP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["register", "direct"] = Field(
        "register",
        description="'register': REGISTER at server:port and take calls through it; "
        "'direct': only listen, peers send INVITEs straight to bind_ip:bind_port.",
    )
    server: str = Field("127.0.0.1", description="Registrar/proxy host (register mode).")
    port: int = Field(5060, ge=1, le=65535, description="Registrar/proxy port.")
    transport: Literal["udp", "tcp"] = Field(
        "udp",
        description="How we REGISTER and what our Contact says: 'tcp' makes the registrar send calls "
        "to us over TCP (TCP-only trunks, INVITEs too large for UDP). Requests arriving over either "
        "are served in both cases.",
    )
    tcp: bool = Field(True, description="Listen for SIP over TCP on bind_ip:bind_port besides UDP.")
    register_expires_s: int = Field(
        300, ge=10, description="Registration lifetime we ask for; the registrar's grant is what counts."
    )
    register_retry_max_s: float = Field(
        30.0, gt=0, description="Longest back-off between failed REGISTERs (the first retry is immediate)."
    )
    keepalive_s: float = Field(
        5.0,
        ge=0,
        description="Every this many seconds an OPTIONS to our own number goes through the registrar: "
        "a registrar that restarted and forgot us is noticed within this time (0 = off).",
    )
    username: str = Field("hotline", min_length=1, description="User part we register as.")
    password: str = Field("", description="Digest password; empty if the registrar does not ask.")
    outbound_proxy: str = Field(
        "",
        description="host:port that outbound INVITEs (callbacks) go to in direct mode; "
        "empty = server:port. Register mode always dials through server:port.",
    )
    bind_ip: str = Field("127.0.0.1", description="Local address of the SIP and RTP sockets.")
    bind_port: int = Field(5080, ge=1, le=65535, description="Local SIP port (UDP and TCP).")
    bind_ip6: str = Field(
        "",
        description="Local IPv6 address for media: callers offering IPv6 audio (c=IN IP6) are served "
        "from it. Empty: such offers are refused with 488 (logged as a missed call), never answered "
        "with silence.",
    )
    rtp_port_low: int = Field(10000, ge=1024, le=65535, description="Lowest local RTP port.")
    rtp_port_high: int = Field(20000, ge=1024, le=65535, description="Highest local RTP port.")
    instance_id: str = Field(
        DEFAULT_INSTANCE_ID,
        pattern=r"^urn:uuid:[0-9a-fA-F-]{36}$",
        description="Stable +sip.instance (urn:uuid:...), one per agent process. In the agent role it is "
        "also the agent's identity: its calls and recordings carry it, and a second agent started with "
        "the same one is refused.",
    )
    agent_lease_s: int = Field(
        30, ge=6, le=600,
        description="Agent role: the agent renews its presence in the database every third of this; "
        "when it stops renewing for this long (and its connection is gone), the web process recovers "
        "its calls (interrupted, recording linked, transcript queued). A database restart never counts.",
    )
    answer_after_rings: int = Field(
        1, description="Rings before on_call (0..3; the procedure says answer within three rings)."
    )
    ring_period_s: float = Field(
        5.0,
        gt=0,
        description="One ring cadence. China's ringback is 1 s on / 4 s off, so one ring = 5 s.",
    )
    rtp_timeout_s: float = Field(
        15.0,
        gt=0,
        description="End an answered call when neither RTP nor RTCP arrives for this long (a caller "
        "with silence suppression still sends RTCP or comfort noise). Not applied while on hold.",
    )
    hold_timeout_s: float = Field(
        1800.0, gt=0, description="End a call that stays on hold (a=sendonly/inactive) longer than this."
    )
    max_calls: int = Field(20, ge=1, description="Concurrent calls; more get 486 Busy Here.")
    codecs: list[Literal["PCMU", "PCMA"]] = Field(
        default_factory=lambda: ["PCMU", "PCMA"],  # type: ignore[arg-type]
        min_length=1,
        description="Codec preference when answering an offer.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of the PBX / SBC whose P-Asserted-Identity names the caller "
                    "(RFC 3325); from anyone else it is ignored and the caller is the From URI's number.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
        return value

    @field_validator("answer_after_rings")
    @classmethod
    def _rings_in_range(cls, value: int) -> int:
        if not 0 <= value <= 3:
            raise ValueError(f"answer_after_rings must be 0..3 (answer within three rings), got {value}")
        return value

    @field_validator("outbound_proxy")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if value and not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"outbound_proxy must be host:port, got {value!r}")
        return value

    @field_validator("bind_ip6")
    @classmethod
    def _ipv6(cls, value: str) -> str:
        if value:
            import ipaddress

            try:
                if ipaddress.ip_address(value).version != 6:
                    raise ValueError
            except ValueError:
                raise ValueError(f"bind_ip6 must be an IPv6 address, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _port_range(self) -> SipSettings:
        if self.rtp_port_low > self.rtp_port_high:
            raise ValueError(
                f"rtp_port_low ({self.rtp_port_low}) must be <= rtp_port_high ({self.rtp_port_high})"
            )
        return self

    @property
    def dial_target(self) -> tuple[str, int]:
        """Where outbound INVITEs go: the registrar/proxy, or outbound_proxy in direct mode."""
        if self.mode == "direct" and self.outbound_proxy:
            host, _, port = self.outbound_proxy.rpartition(":")
            return host, int(port)
        return self.server, self.port

    @property
    def ring_delay_s(self) -> float:
        """How long the agent rings before handing the call to the handler."""
        return self.answer_after_rings * self.ring_period_s
