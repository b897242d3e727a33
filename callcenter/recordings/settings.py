"""Settings of the recordings (`recording:` in config.yaml): the crash-safe writer, the disk
alarm, and where finished recordings are kept: the local recordings directory (default) or an
S3-compatible object store (AWS S3, MinIO, Ceph RGW, Aliyun OSS / Tencent COS in S3 mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class S3Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str = Field(
        default="",
        description="S3 endpoint, e.g. http://minio.lan:9000; empty means AWS S3 of `region`.",
    )
    bucket: str = Field(default="", description="Bucket that holds the recordings (must exist).")
    prefix: str = Field(
        default="recordings/",
        description="Prefix put before every recording key inside the bucket.",
    )
    region: str = Field(default="us-east-1", description="Region name sent with signed requests.")
    access_key_id: str = Field(
        default="",
        description="Access key; empty uses the standard AWS variables/profile "
        "(AWS_ACCESS_KEY_ID, ~/.aws/credentials).",
    )
    secret_access_key: SecretStr = Field(
        default=SecretStr(""),
        description="Secret key; prefer CALLCENTER_RECORDING__STORAGE__S3__SECRET_ACCESS_KEY "
        "or AWS_SECRET_ACCESS_KEY over writing it here.",
    )
    path_style: bool = Field(
        default=True,
        description="Path-style addressing (http://host/bucket/key), which MinIO and most "
        "self-hosted stores need; false for virtual-host style.",
    )
    timeout_s: float = Field(default=30, gt=0, description="Connect/read timeout of one request.")


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["local", "s3"] = Field(
        default="local",
        description="local: recordings stay in `root`. s3: every recording is written to `root` "
        "first (crash-safe) and uploaded when the call ends; the local copy is removed once the "
        "upload is verified (size + SHA-256) and `keep_local_minutes` have passed.",
    )
    keep_local_minutes: float = Field(
        default=30,
        ge=0,
        description="s3 only: how long a verified local copy (or one fetched back for playback/QA) "
        "stays on the local disk as a cache; dropped earlier when the disk runs low.",
    )
    retry_interval_s: int = Field(
        default=60,
        ge=5,
        description="s3 only: how often recordings not yet uploaded (store down, after a restart) "
        "are retried and expired local copies removed.",
    )
    s3: S3Settings = Field(default_factory=S3Settings)

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3.bucket:
            raise ValueError("storage.backend is s3 but storage.s3.bucket is empty")
        return self


class RecordingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path = Field(
        default=Path("recordings"),
        description="Directory that holds every call recording (YYYY/MM/DD/<name>.wav below it).",
    )
    flush_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="How often the WAV header is rewritten and the file fsync'ed; "
        "at most this much audio is lost when the process is killed.",
    )
    min_free_mb: int = Field(
        default=200,
        ge=0,
        description="Free space (MiB) below which the recordings disk (and the SQLite database's "
        "disk) raise the panel alarm 「磁盘空间不足」; it clears at 10% above this.",
    )
    disk_check_s: int = Field(
        default=30,
        ge=5,
        description="How often the free space of the recordings and database disks is checked.",
    )
    max_lag_ms: int = Field(
        default=200,
        ge=20,
        le=5000,
        description="How far one channel may run ahead of the other before the lagging one is "
        "written as silence so the file keeps growing.",
    )
    max_gap_s: float = Field(
        default=10.0,
        gt=0,
        description="Largest RTP timestamp jump filled with silence; bigger jumps are garbage RTP "
        "and are capped to this, so one bad packet cannot write gigabytes of silence.",
    )
    storage: StorageSettings = Field(
        default_factory=StorageSettings,
        description="Where finished recordings are kept: local (default) or an S3-compatible store.",
    )
