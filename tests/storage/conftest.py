"""A real S3-compatible server on loopback for the storage tests: moto's standalone server
(`moto_server`, HTTP on 127.0.0.1) in its own process, spoken to by boto3 exactly as MinIO
would be. MinIO itself cannot be installed here (not in Debian, PyPI or npm)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callcenter.recordings.backends.s3 import S3Storage, make_client
from callcenter.recordings.settings import S3Settings

BUCKET = "callcenter-recordings"

class MotoServer:
    """One `moto_server` process; `stop()` and `start()` simulate the store going down and back
    (moto keeps objects in memory, so a restart starts empty: `start()` recreates the bucket)."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "moto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.endpoint + "/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        self.client().create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def settings(self, **kw: object) -> S3Settings:
        return S3Settings(endpoint_url=self.endpoint, bucket=BUCKET, prefix="site-a/", region="us-east-1",
                          access_key_id="test", secret_access_key="test", timeout_s=5, **kw)  # type: ignore[arg-type]

    def client(self):  # type: ignore[no-untyped-def]
        return make_client(self.settings())

    def storage(self) -> S3Storage:
        return S3Storage(self.settings())

    def object_names(self) -> list[str]:
        reply = self.client().list_objects_v2(Bucket=BUCKET)
        return [o["Key"] for o in reply.get("Contents", [])]

@pytest.fixture(scope="session")
def _moto_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(_moto_process: MotoServer) -> MotoServer:
    """The shared server, emptied (a test that stopped it gets it started again)."""
    if _moto_process.proc is None:
        _moto_process.start()
    else:
        httpx.post(_moto_process.endpoint + "/moto-api/reset", timeout=10).raise_for_status()
        _moto_process.client().create_bucket(Bucket=BUCKET)
    return _moto_process
