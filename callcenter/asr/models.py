"""Provisioning of the Vosk model: download or copy, verify every file, install atomically, check.

The site machine may be offline, so the same verification runs for a download (`fetch_model`) and for a
copy brought on a USB stick (`install_from`). Nothing is moved into place until every listed file matches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from callcenter.asr.interface import ModelUnavailable
from callcenter.asr.settings import MODEL_NAME, OFFICIAL_MODEL_URL

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 20
FIX_HINT = (
    "Fix: run `callcenter models fetch` (downloads and verifies the official model) or "
    "`callcenter models fetch --from PATH` (installs a copy from a USB stick: the zip or its unpacked folder)."
)


@dataclass(frozen=True)
class FileChecksum:
    git_blob: str  # `git hash-object FILE`: sha1 of b"blob <size>\0" + content; the id we trust first
    size: int | None = None
    sha256: str | None = None


# From /work/shared/asr_models/README.md: blob ids of the files as vendored in public repositories.
# final.mdl's size and sha256 are only *reported* for the official zip and were not checked, so only its
# blob id is enforced (a wrong reported sha256 must not make a genuine model fail to install).
OFFICIAL_CHECKSUMS: Mapping[str, FileChecksum] = {
    "README": FileChecksum(
        "0b5d9e51c73727f41e2fffd02e94ea097e9e7f08",
        82,
        "7362be411c609f2a1c9d2dfe22c2d72555c15eb90bfe47c41772f49ef94840ce",
    ),
    "am/final.mdl": FileChecksum("f7cf1de81a9b41dc310a8f7012720b8d69033a10"),
    "conf/mfcc.conf": FileChecksum(
        "12fdad4ed91d2e9fad69ef486f3b4fae612d4ad2",
        153,
        "6c326fea5741c2d78be12f76eb1b36ea2ace040da9e355e4cfe6bb80e5f7d5ab",
    ),
    "conf/model.conf": FileChecksum(
        "9ae12a7d1f3fbbf4defb2b7c98d7eea4421208d0",
        289,
        "468a8125c07530f96adcc219a0a5f993e8e0721ccf18acbd3169b77fc685fb9b",
    ),
    "graph/Gr.fst": FileChecksum("ee4580d20e58fcd986d5a289dcab57dd21367eff"),
    "graph/HCLr.fst": FileChecksum("2ad6e8f7b9d611040ffbe77a29c0a23ec5f27447"),
    "graph/disambig_tid.int": FileChecksum(
        "c1a114fc9fb5d3b253f44580d7879cbbf6ed653a",
        234,
        "c9200318c2a265549ebfbea7e0176fa62e131e953abd140c9b0b39fe61e24015",
    ),
    "graph/phones/word_boundary.int": FileChecksum(
        "9f3713e91e9c6262da3d659d34afa14dd24d3a13",
        7161,
        "11ca784b99f03188b451fb54714c2de3dd694e662a5f88e82df435c2789b9aec",
    ),
    "ivector/final.dubm": FileChecksum(
        "bcf26895711f44caabcddbee22e7b0725826b344",
        168048,
        "e33276cbd548c0a03ae5812c98115940614997dff23a6d59968af6eaf7630ff8",
    ),
    "ivector/final.ie": FileChecksum("e1d78a203c476104e9b35a2bd93f3f48ce3b6294"),
    "ivector/final.mat": FileChecksum(
        "1093236cc3eefa5f5e47d69dcd04a85cd715ff58",
        44975,
        "42706d88818070ea0d0182b4d11367ba52a13b9a2be45630f60858a422109ada",
    ),
    "ivector/global_cmvn.stats": FileChecksum(
        "500cc408f8375a752c602233baf35695f43acfa7",
        1090,
        "b267dc89c1556fdd5bc358f0a480929da1743eeccfa06a67daf8db629ca336bb",
    ),
    "ivector/online_cmvn.conf": FileChecksum(
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        0,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    "ivector/splice.conf": FileChecksum(
        "960cd2e4c23521e5aecdd6627209c79a693073ff",
        35,
        "9f0c5f7c82d18eaf25d8bce470efa9f7741f88411fe428774bc0a9bb69a24756",
    ),
}

# What Vosk needs to load a model and give word times; the graph is either static or lookahead (HCLr+Gr).
REQUIRED_FILES = ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf", "graph/phones/word_boundary.int")
GRAPH_ALTERNATIVES = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


class ModelVerificationError(ModelUnavailable):
    """A downloaded or copied model does not match the checksum table; nothing was installed."""


def git_blob_id(path: Path) -> str:
    """The id `git hash-object` prints: sha1 over a "blob <size>\\0" header and the content."""
    sha1 = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            sha1.update(chunk)
    return sha1.hexdigest()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def check_model(model_dir: Path) -> None:
    """Raise ModelUnavailable, naming the problem and the fix, unless model_dir looks loadable by Vosk.

    Cheap (a few stat calls), so it can run before every background job.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelUnavailable(f"Speech model not found: {model_dir} does not exist. {FIX_HINT}")
    missing = [rel for rel in REQUIRED_FILES if not _nonempty(model_dir / rel)]
    if not any(all(_nonempty(model_dir / rel) for rel in alt) for alt in GRAPH_ALTERNATIVES):
        missing.append(" or ".join("+".join(alt) for alt in GRAPH_ALTERNATIVES))
    if missing:
        raise ModelUnavailable(
            f"Speech model at {model_dir} is incomplete (missing or empty: {', '.join(missing)}). {FIX_HINT}"
        )


MODEL_MISSING = "语音识别模型缺失：来电改走按键登记"  # the panel's header chip (GET /api/system/status)


def model_state(model_dir: Path) -> dict[str, object]:
    """For the panel: whether live recognition can run ({"ok": True}), or why not — the calls then
    take the keypad path and their transcripts wait for a model (calls.flow, asr.pool)."""
    try:
        check_model(model_dir)
    except ModelUnavailable as exc:
        return {"ok": False, "message": MODEL_MISSING,
                "detail": f"模型目录 {model_dir} 缺失或不完整，转写排队等待模型；安装：callcenter models fetch（{exc}）"}
    return {"ok": True, "message": "", "detail": ""}


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def verify_tree(model_root: Path, checksums: Mapping[str, FileChecksum]) -> None:
    """Raise ModelVerificationError naming the first file whose size/blob id/sha256 differs or is missing."""
    for rel, want in sorted(checksums.items()):
        path = model_root / rel
        if not path.is_file():
            raise ModelVerificationError(
                f"Model verification failed: {rel} is missing from the archive. {FIX_HINT}"
            )
        size = path.stat().st_size
        if want.size is not None and size != want.size:
            raise ModelVerificationError(
                f"Model verification failed: {rel} has {size} bytes, expected {want.size}. {FIX_HINT}"
            )
        blob = git_blob_id(path)
        if blob != want.git_blob:
            raise ModelVerificationError(
                f"Model verification failed: {rel} git blob id is {blob}, expected {want.git_blob}. {FIX_HINT}"
            )
        if want.sha256 is not None and (digest := sha256_of(path)) != want.sha256:
            raise ModelVerificationError(
                f"Model verification failed: {rel} sha256 is {digest}, expected {want.sha256}. {FIX_HINT}"
            )
    extra = sorted(
        str(p.relative_to(model_root))
        for p in model_root.rglob("*")
        if p.is_file() and str(p.relative_to(model_root)) not in checksums
    )
    if extra:
        log.info("model files without a published checksum (not verified): %s", ", ".join(extra))


ProgressFn = Callable[[int, int | None], None]


def fetch_model(
    dest_root: Path,
    url: str = OFFICIAL_MODEL_URL,
    *,
    checksums: Mapping[str, FileChecksum] = OFFICIAL_CHECKSUMS,
    name: str = MODEL_NAME,
    timeout_s: float = 60.0,
    progress: ProgressFn | None = None,
) -> Path:
    """Download the model zip from url, verify it and install it as dest_root/name. Returns that path."""
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    # The staging dir sits inside dest_root so the final rename stays on one file system (atomic).
    with tempfile.TemporaryDirectory(dir=dest_root, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "model.zip"
        try:
            _download(url, archive, timeout_s=timeout_s, progress=progress)
        except OSError as exc:
            raise ModelUnavailable(
                f"Could not download the speech model from {url}: {exc}. {FIX_HINT}"
            ) from exc
        return _install_zip(archive, dest_root, checksums=checksums, name=name, staging=Path(tmp))


def install_from(
    src: Path,
    dest_root: Path,
    *,
    checksums: Mapping[str, FileChecksum] = OFFICIAL_CHECKSUMS,
    name: str = MODEL_NAME,
) -> Path:
    """Install a model from a zip or an unpacked directory (e.g. on a USB stick) after verifying it."""
    src, dest_root = Path(src), Path(dest_root)
    if not src.exists():
        raise ModelUnavailable(f"Cannot install the speech model: {src} does not exist. {FIX_HINT}")
    dest_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_root, prefix=".install-") as tmp:
        staging = Path(tmp)
        if src.is_dir():
            copy = staging / "unpacked"
            # Copy before verifying so a stick pulled out mid-way cannot leave a half model in place.
            shutil.copytree(_find_model_root(src), copy)
            return _verify_and_move(copy, dest_root, checksums=checksums, name=name)
        if zipfile.is_zipfile(src):
            return _install_zip(src, dest_root, checksums=checksums, name=name, staging=staging)
        raise ModelUnavailable(
            f"Cannot install the speech model: {src} is neither a directory nor a zip. {FIX_HINT}"
        )


def _download(url: str, dest: Path, *, timeout_s: float, progress: ProgressFn | None) -> None:
    with urllib.request.urlopen(url, timeout=timeout_s) as resp, dest.open("wb") as out:  # noqa: S310
        total = int(resp.headers.get("Content-Length") or 0) or None
        done = 0
        while chunk := resp.read(_CHUNK_BYTES):
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    if total is not None and done != total:
        raise OSError(f"download truncated at {done} of {total} bytes")


def _install_zip(
    archive: Path, dest_root: Path, *, checksums: Mapping[str, FileChecksum], name: str, staging: Path
) -> Path:
    unpacked = staging / "unpacked"
    unpacked.mkdir()
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                # Refuse entries that would land outside the staging dir ("zip slip").
                target = (unpacked / member).resolve()
                if not target.is_relative_to(unpacked.resolve()):
                    raise ModelVerificationError(
                        f"Model archive {archive} has an unsafe entry {member!r}. {FIX_HINT}"
                    )
            zf.extractall(unpacked)
    except zipfile.BadZipFile as exc:
        raise ModelVerificationError(
            f"Model archive {archive} is not a valid zip: {exc}. {FIX_HINT}"
        ) from exc
    return _verify_and_move(_find_model_root(unpacked), dest_root, checksums=checksums, name=name)


def _find_model_root(top: Path) -> Path:
    """The official zip wraps the model in one top-level folder; accept it with or without that folder."""
    if (top / "am").is_dir() or (top / "conf").is_dir():
        return top
    subdirs = [p for p in top.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subdirs) == 1:
        return _find_model_root(subdirs[0])
    return top


def _verify_and_move(
    model_root: Path, dest_root: Path, *, checksums: Mapping[str, FileChecksum], name: str
) -> Path:
    verify_tree(model_root, checksums)
    check_model(model_root)
    final = dest_root / name
    if final.exists():
        # Swap out the old copy by renames so a reader sees either the old or the new model, never a mix.
        old = Path(tempfile.mkdtemp(dir=dest_root, prefix=".old-"))
        os.replace(final, old / name)
        os.replace(model_root, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(model_root, final)
    log.info("speech model installed at %s", final)
    return final
