"""Per-model inference counts kept by the services, so operators and tests can see how many times an
engine really ran (an idempotent replay must not move them). Served by GET /v1/admin/stats."""

from __future__ import annotations

import threading


class InferenceCounter:
    """A thread-safe counter: engines run in worker threads."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, model_id: str, n: int = 1) -> None:
        with self._lock:
            self._counts[model_id] = self._counts.get(model_id, 0) + n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
