"""Model provisioning: download over loopback HTTP, install from a stick, verification, clear errors."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from callcenter.asr.interface import ModelUnavailable
from callcenter.asr.models import (
    OFFICIAL_CHECKSUMS,
    FileChecksum,
    ModelVerificationError,
    check_model,
    fetch_model,
    git_blob_id,
    install_from,
    sha256_of,
)
from callcenter.asr.settings import MODEL_NAME

# Model-shaped synthetic files: the real layout, small made-up contents.
SYNTHETIC = {
    "README": b"synthetic model for tests\n",
    "am/final.mdl": bytes(range(256)) * 64,
    "conf/mfcc.conf": b"--use-energy=false\n--sample-frequency=16000\n",
    "conf/model.conf": b"--min-active=200\n--max-active=3000\n",
    "graph/HCLr.fst": b"HCLr" * 100,
    "graph/Gr.fst": b"Gr" * 100,
    "graph/disambig_tid.int": b"1\n2\n",
    "graph/phones/word_boundary.int": b"1 nonword\n2 begin\n",
    "ivector/final.ie": b"ie" * 50,
    "ivector/online_cmvn.conf": b"",
}


def write_tree(root: Path, files: dict[str, bytes] = SYNTHETIC) -> Path:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def make_zip(path: Path, files: dict[str, bytes], top: str = MODEL_NAME) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for rel, content in files.items():
            zf.writestr(f"{top}/{rel}" if top else rel, content)
    return path


@pytest.fixture
def table(tmp_path: Path) -> dict[str, FileChecksum]:
    """The synthetic model's own checksum table, built the way the official one was (blob ids + sha256)."""
    src = write_tree(tmp_path / "table-src")
    return {
        rel: FileChecksum(git_blob_id(src / rel), len(content), sha256_of(src / rel) if i % 2 else None)
        for i, (rel, content) in enumerate(SYNTHETIC.items())
    }


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static file server on 127.0.0.1 (ephemeral port), standing in for alphacephei.com."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def leftovers(dest_root: Path) -> list[str]:
    return sorted(p.name for p in dest_root.iterdir()) if dest_root.exists() else []


def test_git_blob_id_matches_git_hash_object(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"hello\n")
    # `echo hello | git hash-object --stdin`
    assert git_blob_id(f) == "ce013625030ba8dba906f756967f9e9ca394464a"
    f.write_bytes(b"")
    assert git_blob_id(f) == OFFICIAL_CHECKSUMS["ivector/online_cmvn.conf"].git_blob
    if shutil.which("git"):
        f.write_bytes(SYNTHETIC["am/final.mdl"])
        out = subprocess.run(
            ["git", "hash-object", str(f)], check=True, capture_output=True, text=True
        ).stdout
        assert git_blob_id(f) == out.strip()


def test_fetch_downloads_verifies_and_installs(
    tmp_path: Path, http_root: tuple[Path, str], table: dict[str, FileChecksum]
) -> None:
    www, base = http_root
    make_zip(www / f"{MODEL_NAME}.zip", SYNTHETIC)
    dest_root = tmp_path / "asr_models"
    seen: list[int] = []

    installed = fetch_model(
        dest_root, f"{base}/{MODEL_NAME}.zip", checksums=table, progress=lambda n, _t: seen.append(n)
    )

    assert installed == dest_root / MODEL_NAME
    check_model(installed)
    assert (installed / "am/final.mdl").read_bytes() == SYNTHETIC["am/final.mdl"]
    assert seen and seen[-1] == (www / f"{MODEL_NAME}.zip").stat().st_size
    assert leftovers(dest_root) == [MODEL_NAME]  # no staging dirs left behind


def test_a_tampered_file_is_rejected_and_nothing_is_installed(
    tmp_path: Path, http_root: tuple[Path, str], table: dict[str, FileChecksum]
) -> None:
    www, base = http_root
    tampered = dict(SYNTHETIC, **{"graph/Gr.fst": b"Gr" * 99 + b"XX"})  # same size, different content
    make_zip(www / "m.zip", tampered)
    dest_root = tmp_path / "asr_models"

    with pytest.raises(ModelVerificationError) as err:
        fetch_model(dest_root, f"{base}/m.zip", checksums=table)

    msg = str(err.value)
    assert "graph/Gr.fst" in msg
    assert table["graph/Gr.fst"].git_blob in msg  # expected id
    actual = git_blob_id(write_tree(tmp_path / "t", {"Gr": tampered["graph/Gr.fst"]}) / "Gr")
    assert actual in msg
    assert leftovers(dest_root) == []


def test_the_official_table_rejects_a_fake_model(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    www, base = http_root
    make_zip(www / f"{MODEL_NAME}.zip", SYNTHETIC)
    dest_root = tmp_path / "asr_models"
    with pytest.raises(ModelVerificationError, match="expected"):
        fetch_model(dest_root, f"{base}/{MODEL_NAME}.zip")  # default checksums=OFFICIAL_CHECKSUMS
    assert leftovers(dest_root) == []


def test_a_missing_file_is_named(
    tmp_path: Path, http_root: tuple[Path, str], table: dict[str, FileChecksum]
) -> None:
    www, base = http_root
    make_zip(www / "m.zip", {k: v for k, v in SYNTHETIC.items() if k != "ivector/final.ie"})
    with pytest.raises(ModelVerificationError, match="ivector/final.ie is missing"):
        fetch_model(tmp_path / "asr_models", f"{base}/m.zip", checksums=table)


def test_download_errors_name_the_url_and_the_fix(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    _, base = http_root
    with pytest.raises(ModelUnavailable, match=r"404.*callcenter models fetch --from PATH"):
        fetch_model(tmp_path / "asr_models", f"{base}/nope.zip")
    assert leftovers(tmp_path / "asr_models") == []


def test_install_from_an_unpacked_directory(tmp_path: Path, table: dict[str, FileChecksum]) -> None:
    stick = write_tree(tmp_path / "usb" / MODEL_NAME)
    installed = install_from(stick, tmp_path / "asr_models", checksums=table)
    check_model(installed)
    assert stick.is_dir()  # the stick's copy is left alone


def test_install_from_a_zip_replaces_an_older_install(tmp_path: Path, table: dict[str, FileChecksum]) -> None:
    dest_root = tmp_path / "asr_models"
    old = write_tree(dest_root / MODEL_NAME, {"am/final.mdl": b"old"})
    archive = make_zip(tmp_path / "stick.zip", SYNTHETIC, top="")  # a zip without the top-level folder
    installed = install_from(archive, dest_root, checksums=table)
    assert installed == old
    assert (installed / "am/final.mdl").read_bytes() == SYNTHETIC["am/final.mdl"]
    assert leftovers(dest_root) == [MODEL_NAME]


def test_install_from_a_bad_copy_keeps_the_working_model(
    tmp_path: Path, table: dict[str, FileChecksum]
) -> None:
    dest_root = tmp_path / "asr_models"
    good = install_from(write_tree(tmp_path / "good"), dest_root, checksums=table)
    bad = write_tree(tmp_path / "bad", dict(SYNTHETIC, **{"conf/model.conf": b"--beam=1000\n"}))
    with pytest.raises(ModelVerificationError, match="conf/model.conf"):
        install_from(bad, dest_root, checksums=table)
    assert (good / "conf/model.conf").read_bytes() == SYNTHETIC["conf/model.conf"]
    assert leftovers(dest_root) == [MODEL_NAME]


def test_unsafe_zip_entries_are_refused(tmp_path: Path, table: dict[str, FileChecksum]) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped", b"x")
    with pytest.raises(ModelVerificationError, match="unsafe entry"):
        install_from(archive, tmp_path / "asr_models", checksums=table)
    assert not (tmp_path / "escaped").exists()


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as err:
        check_model(tmp_path / "asr_models" / MODEL_NAME)
    msg = str(err.value)
    assert "does not exist" in msg
    assert "callcenter models fetch`" in msg
    assert "callcenter models fetch --from PATH" in msg


def test_broken_model_names_the_missing_files(tmp_path: Path) -> None:
    model = write_tree(tmp_path / "m", {k: v for k, v in SYNTHETIC.items() if not k.startswith("graph/")})
    with pytest.raises(
        ModelUnavailable, match=r"graph/phones/word_boundary.int.*graph/HCLr.fst\+graph/Gr.fst"
    ):
        check_model(model)
    (model / "am/final.mdl").write_bytes(b"")  # truncated copy
    with pytest.raises(ModelUnavailable, match="am/final.mdl"):
        check_model(model)


def test_the_korean_model_passes_the_structural_check(ko_model_dir: Path) -> None:
    check_model(ko_model_dir)
