"""S3-compatible object storage through boto3 (AWS S3, MinIO, Ceph RGW, OSS/COS in S3 mode).

Every upload is verified before the caller may delete its local copy: the request carries the
file's SHA-256 (x-amz-checksum-sha256: AWS and MinIO refuse a body damaged on the way), and a
HEAD afterwards must show the same size, our SHA-256 in the object's metadata, and a digest the
server computed over the bytes it received: its SHA-256 checksum where it keeps one, else the
ETag, which for a single-part upload is the MD5 of the content (moto, MinIO, Ceph RGW, AWS
without SSE-KMS).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from callcenter.recordings.backends.interface import StorageError, StoredObject, check_key
from callcenter.recordings.files import sha256_of as sha256_file
from callcenter.recordings.settings import S3Settings

# Below this a recording goes up in one PUT whose body the server checks against our SHA-256;
# above it (calls longer than ~2 h at 8 kHz stereo) a multipart upload with per-part checksums.
_SINGLE_PUT_MAX = 64 * 1024 * 1024
_META_SHA = "sha256"


class S3Storage:
    remote = True

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        if not settings.bucket:
            raise ValueError("S3 storage needs a bucket")
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._client = client or make_client(settings)
        self._transfer = TransferConfig(multipart_threshold=_SINGLE_PUT_MAX, multipart_chunksize=16 * 1024 * 1024)

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    # -- writing -----------------------------------------------------------------------------------

    def put(self, key: str, local_path: Path, sha256: str | None = None) -> StoredObject:
        name = self._name(key)
        actual, md5 = _digests(Path(local_path))
        if sha256 is not None and actual != sha256:
            raise StorageError(f"{local_path} has SHA-256 {actual}, not the {sha256} recorded at close")
        size = os.path.getsize(local_path)
        extra = {"Metadata": {_META_SHA: actual}, "ContentType": "audio/wav"}
        try:
            if size <= _SINGLE_PUT_MAX:
                with open(local_path, "rb") as body:
                    self._client.put_object(Bucket=self.bucket, Key=name, Body=body,
                                            ChecksumSHA256=_b64(actual), **extra)
            else:
                self._client.upload_file(str(local_path), self.bucket, name, Config=self._transfer,
                                         ExtraArgs={**extra, "ChecksumAlgorithm": "SHA256"})
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"uploading {key} to s3://{self.bucket}/{name} failed: {exc}") from exc
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=name, ChecksumMode="ENABLED")
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"verifying {key} after upload failed: {exc}") from exc
        stored = StoredObject(key, int(head["ContentLength"]), head.get("Metadata", {}).get(_META_SHA, ""))
        server_sha, etag = head.get("ChecksumSHA256", ""), str(head.get("ETag", "")).strip('"')
        if server_sha and "-" not in server_sha:
            received = server_sha == _b64(actual)
        elif len(etag) == 32 and "-" not in etag:
            received = etag == md5
        else:
            received = True  # multipart without checksums: size and metadata are all there is
        if stored.size_bytes != size or stored.sha256 != actual or not received:
            raise StorageError(f"s3://{self.bucket}/{name} does not match {local_path} after upload "
                               f"({stored.size_bytes} vs {size} bytes, server digest {server_sha or etag})")
        return stored

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"deleting {key} failed: {exc}") from exc
        return existed

    # -- reading -----------------------------------------------------------------------------------

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._name(key), ChecksumMode="ENABLED")
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise StorageError(f"checking {key} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"checking {key} failed: {exc}") from exc
        sha = head.get("Metadata", {}).get(_META_SHA, "")
        server_sha = head.get("ChecksumSHA256")
        # The server's own checksum (single-part uploads) must agree with the metadata.
        if server_sha and "-" not in server_sha and sha and server_sha != _b64(sha):
            raise StorageError(f"s3 object {key}: server checksum {server_sha} disagrees with metadata {sha}")
        return StoredObject(key, int(head["ContentLength"]), sha)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def open(self, key: str) -> BinaryIO:
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _not_found(exc):
                raise FileNotFoundError(f"no stored recording {key}") from exc
            raise StorageError(f"reading {key} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading {key} failed: {exc}") from exc
        return cast(BinaryIO, reply["Body"])

    def fetch(self, key: str, dest: Path) -> StoredObject:
        stored = self.stat(key)
        if stored is None:
            raise FileNotFoundError(f"no stored recording {key}")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        try:
            self._client.download_file(self.bucket, self._name(key), str(tmp))
            got = sha256_file(tmp)
            if stored.sha256 and got != stored.sha256:
                raise StorageError(f"downloaded {key} has SHA-256 {got}, expected {stored.sha256}")
            os.replace(tmp, dest)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"downloading {key} failed: {exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return stored

    def url(self, key: str, expires_s: int = 300) -> str | None:
        return cast(str, self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._name(key)}, ExpiresIn=expires_s))


def make_client(settings: S3Settings) -> Any:
    secret = settings.secret_access_key.get_secret_value()
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url or None,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id or None,
        aws_secret_access_key=secret or None,
        config=Config(
            s3={"addressing_style": "path" if settings.path_style else "virtual"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=settings.timeout_s,
            read_timeout=settings.timeout_s,
        ),
    )


def _digests(path: Path) -> tuple[str, str]:
    """SHA-256 and MD5 of a file in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _b64(sha_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha_hex)).decode()


def _not_found(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")
