"""Loaded models, one instance per process, shared by every request.

Engines live in asr/ and tts/; they hand their loader to `get`, so this module stays free of model code."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from voxgate.models.catalog import ModelSpec
from voxgate.models.weights import prepare

T = TypeVar("T")
log = logging.getLogger("voxgate.models")


class ModelRegistry:
    """Lazily loads each model on first use; concurrent first uses wait for one load."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._loaded: dict[str, Any] = {}
        self.load_seconds: dict[str, float] = {}  # each loaded model's load time (the metrics read it)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, spec: ModelSpec, loader: Callable[[ModelSpec, Path], T]) -> T:
        """Return the shared instance of `spec`, loading it with `loader(spec, weights path)` if needed
        (blocking: call off-loop). Each service binds its engine's own settings into `loader`."""
        found = self._loaded.get(spec.id)
        if found is not None:
            return found
        with self._guard:
            lock = self._locks.setdefault(spec.id, threading.Lock())
        with lock:
            found = self._loaded.get(spec.id)
            if found is None:
                started = time.perf_counter()
                path = prepare(spec, self.cache_dir)
                found = loader(spec, path)
                self._loaded[spec.id] = found
                self.load_seconds[spec.id] = time.perf_counter() - started
                log.info("loaded model %s in %.2fs", spec.id, self.load_seconds[spec.id])
        return found

    def loaded(self, model_id: str) -> Any | None:
        """The instance of a model already loaded, else None: no lock, no thread, for hot paths."""
        return self._loaded.get(model_id)

    def instances(self) -> dict[str, Any]:
        """Every loaded model by id (a copy)."""
        return dict(self._loaded)

    def is_loaded(self, model_id: str) -> bool:
        return model_id in self._loaded
