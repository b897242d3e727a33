"""Versioned draft models on disk, which one serves, and the way back.

    <models_dir>/versions/<version>/{meta.json,arrays.npz}   every model trained, kept
    <models_dir>/promotions.jsonl                            every change of the serving model
    <models_dir>/current                                     the serving version (atomic rename)

Owner-only permissions throughout (the models are derived from residents' calls). Without a
`current`, the packaged seed model serves (a site with no confirmed entries).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from .model import ModelFileError, TextModel

SEED = "seed"


def seed_model_dir() -> Path:
    return Path(str(resources.files(__package__).joinpath("seed_model")))


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
            return seed_model_dir()
        return self.root / "versions" / version

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
                meta = {"metrics": {}, "examples": {}, "broken": True}
            try:
                decision = json.loads((path / "decision.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                decision = {}
            out.append(VersionInfo(
                version=name, created_at=str(meta.get("created_at", "")), serving=name == current,
                promoted=name in promoted or (name == SEED),
                decision=str(decision.get("reason", "packaged seed model" if name == SEED else
                                           "unreadable model files" if meta.get("broken") else "")),
                metrics=meta.get("metrics", {}), examples=meta.get("examples", {}),
                holdout=decision.get("holdout")))
        return out
