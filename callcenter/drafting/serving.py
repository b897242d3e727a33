"""The model a call is drafted with: the registry's serving model, reloaded when it changes,
and the rules alone when it cannot be read.

A missing or corrupted model file never affects a call: `get()` returns None (the rules
draft, every field marked for checking), one clear log line says why, and `on_failure`
(the composition root passes a function that publishes a `system.alarm` event and posts a
notice) is told once per failure, and again when a good model serves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .model import ModelFileError, TextModel
from .registry import ModelRegistry

log = logging.getLogger(__name__)

# How often the serving pointer is looked at (a promotion or rollback by another process).
CHECK_EVERY_S = 30.0

FailureCallback = Callable[[str | None], None]  # the problem, or None when resolved


class ModelProvider:
    def __init__(self, registry: ModelRegistry, on_failure: FailureCallback | None = None,
                 check_every_s: float = CHECK_EVERY_S) -> None:
        self.registry = registry
        self.on_failure = on_failure
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._model: TextModel | None = None
        self._loaded_key: tuple[str, float] | None = None
        self._checked_at = -1e18
        self.problem: str | None = None

    @classmethod
    def for_dir(cls, models_dir: Path, on_failure: FailureCallback | None = None) -> ModelProvider:
        return cls(ModelRegistry(models_dir), on_failure)

    def _key(self) -> tuple[str, float]:
        version = self.registry.current()
        try:
            stamp = (self.registry.path_of(version) / "meta.json").stat().st_mtime
        except OSError:
            stamp = -1.0
        return version, stamp

    def get(self) -> TextModel | None:
        """The serving model, or None (rules only). Cheap: looks at the disk every check_every_s."""
        now = time.monotonic()
        if now - self._checked_at < self.check_every_s:
            return self._model
        with self._lock:
            if now - self._checked_at < self.check_every_s:
                return self._model
            self._checked_at = now
            key = self._key()
            if key != self._loaded_key:
                self._load(key)
            return self._model

    def reload(self) -> TextModel | None:
        """Look at the disk now (after a training, a promotion or a rollback)."""
        self._checked_at = -1e18
        self._loaded_key = None
        return self.get()

    def _load(self, key: tuple[str, float]) -> None:
        version = key[0]
        try:
            model = self.registry.load(version)
        except ModelFileError as exc:
            self._model, self._loaded_key = None, key
            problem = f"draft model {version} unusable, drafting with the rules only: {exc}"
            if problem != self.problem:
                log.error("%s", problem)
                self.problem = problem
                self._tell(problem)
            return
        self._model, self._loaded_key = model, key
        log.info("drafting with model %s", version)
        if self.problem is not None:
            self.problem = None
            self._tell(None)

    def _tell(self, problem: str | None) -> None:
        if self.on_failure is None:
            return
        try:
            self.on_failure(problem)
        except Exception:  # an alarm that cannot be posted must not stop the drafting
            log.exception("draft model alarm not delivered")
