"""Versioned draft models on disk, which one serves, and the way back.

    <models_dir>/seed/{meta.json,arrays.npz}                 the seed model, built from the packaged corpus
    <models_dir>/versions/<version>/{meta.json,arrays.npz}   every model trained, kept
    <models_dir>/promotions.jsonl                            every change of the serving model
    <models_dir>/current                                     the serving version (atomic rename)

Owner-only permissions throughout (the models are derived from residents' calls). Without a
`current`, the seed model serves (a site with no confirmed entries). No model file ships in the
package or in git: the seed model is trained from the packaged seed corpus on first use (a few
seconds) or by `callcenter drafting train --seed`, and rebuilt when the corpus or the trainer
changes (its meta.json names both).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .model import FORMAT, ModelFileError, TextModel

log = logging.getLogger(__name__)

SEED = "seed"
# Bumped when training changes in a way that makes an older seed model stale.
TRAINER_VERSION = "2"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created_at: str
    serving: bool
    promoted: bool  # was it ever promoted
    decision: str  # why it was (not) promoted
    metrics: dict[str, Any]
    examples: dict[str, Any]
    holdout: dict[str, Any] | None


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ----- layout ------------------------------------------------------------------------
    def _ensure(self) -> None:
        for folder in (self.root, self.root / "versions"):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.chmod(0o700)

    def path_of(self, version: str) -> Path:
        if version == SEED:
            return self.root / SEED
        return self.root / "versions" / version

    # ----- the seed model, built on first use ----------------------------------------------
    def seed_is_current(self) -> bool:
        """A seed model exists, readable as JSON, of this format, trained from the packaged corpus
        by this trainer."""
        from .train import seed_corpus_sha256

        try:
            meta = json.loads((self.root / SEED / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return (isinstance(meta, dict) and meta.get("format") == FORMAT
                and meta.get("seed_corpus_sha256") == seed_corpus_sha256()
                and meta.get("trainer_version") == TRAINER_VERSION)

    def ensure_seed(self, *, force: bool = False, progress: Any = None) -> Path:
        """The seed model's folder, trained from the packaged corpus first if it is missing,
        stale or `force`d. One process builds while the others wait (a lock file)."""
        self._ensure()
        target = self.root / SEED
        if not force and self.seed_is_current():
            return target
        with (self.root / "seed.lock").open("a") as lock:
            os.chmod(lock.name, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not force and self.seed_is_current():
                    return target
                from .train import build_seed_model

                log.info("building the seed draft model from the packaged corpus in %s", target)
                building = self.root / "seed.building"
                shutil.rmtree(building, ignore_errors=True)
                report = build_seed_model(building, progress=progress,
                                          extra_meta={"trainer_version": TRAINER_VERSION})
                old = self.root / "seed.old"
                shutil.rmtree(old, ignore_errors=True)
                if target.exists():
                    target.replace(old)
                building.replace(target)
                shutil.rmtree(old, ignore_errors=True)
                log.info("seed draft model built in %.1f s", report.seconds)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return target

    def new_version_name(self, now: datetime | None = None) -> str:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        existing = self.version_names()
        number = len(existing) + 1
        name = f"v{number:04d}-{stamp}"
        while name in existing:
            number += 1
            name = f"v{number:04d}-{stamp}"
        return name

    def version_names(self) -> list[str]:
        folder = self.root / "versions"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    # ----- serving pointer and its history -----------------------------------------------
    def current(self) -> str:
        """The serving version: a trained one, or SEED."""
        try:
            name = (self.root / "current").read_text(encoding="utf-8").strip()
        except OSError:
            return SEED
        return name or SEED

    def _set_current(self, version: str, reason: str) -> None:
        self._ensure()
        tmp = self.root / "current.tmp"
        tmp.write_text(version + "\n", encoding="utf-8")
        tmp.chmod(0o600)
        os.replace(tmp, self.root / "current")
        log = self.root / "promotions.jsonl"
        with log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"version": version, "at": datetime.now(UTC).isoformat(), "reason": reason},
                                    ensure_ascii=False) + "\n")
        log.chmod(0o600)

    def promotions(self) -> list[dict[str, Any]]:
        try:
            lines = (self.root / "promotions.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def promote(self, version: str, reason: str) -> None:
        if version != SEED and not (self.path_of(version) / "meta.json").exists():
            raise ModelFileError(f"no model version {version!r} in {self.root}")
        self._set_current(version, reason)

    def rollback(self) -> str:
        """Serve the model that served before the current one; returns it. Raises LookupError
        when there is nothing to go back to."""
        history = [p["version"] for p in self.promotions()]
        current = self.current()
        # walk back from the latest promotion of the current version to an earlier, different one
        while history and history[-1] == current:
            history.pop()
        previous = history[-1] if history else (SEED if current != SEED else None)
        if previous is None:
            raise LookupError("nothing to roll back to: the seed model is serving")
        self._set_current(previous, f"rollback from {current}")
        return previous

    # ----- models --------------------------------------------------------------------------
    def save(self, model: TextModel, version: str) -> Path:
        self._ensure()
        path = self.path_of(version)
        model.meta["version"] = version
        model.save(path)
        return path

    def record_decision(self, version: str, decision: dict[str, Any]) -> None:
        """Keep the promotion decision (and the held-back comparison) beside the model."""
        path = self.path_of(version) / "decision.json"
        path.write_text(json.dumps(decision, ensure_ascii=False, indent=1), encoding="utf-8")
        path.chmod(0o600)

    def load(self, version: str) -> TextModel:
        if version == SEED:
            try:
                self.ensure_seed()
            except Exception as exc:  # no corpus, no scikit-learn, a full disk: rules only, said why
                raise ModelFileError(f"cannot build the seed model in {self.root / SEED}: {exc}") from exc
        model = TextModel.load(self.path_of(version))
        model.meta.setdefault("version", version)
        return model

    def load_current(self) -> TextModel:
        """The serving model; ModelFileError when its files are missing or broken."""
        return self.load(self.current())

    def versions(self) -> list[VersionInfo]:
        current = self.current()
        promoted = {p["version"] for p in self.promotions()}
        out = []
        for name in [SEED, *self.version_names()]:
            path = self.path_of(name)
            try:
                meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {"metrics": {}, "examples": {}, "broken": name != SEED}
            try:
                decision = json.loads((path / "decision.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                decision = {}
            out.append(VersionInfo(
                version=name, created_at=str(meta.get("created_at", "")), serving=name == current,
                promoted=name in promoted or (name == SEED),
                decision=str(decision.get("reason", ("seed model (packaged corpus)" if path.exists() else
                                                     "seed model, built from the packaged corpus on first use")
                                           if name == SEED else
                                           "unreadable model files" if meta.get("broken") else "")),
                metrics=meta.get("metrics", {}), examples=meta.get("examples", {}),
                holdout=decision.get("holdout")))
        return out
