"""Loading the default models in the background at start, so the first request does not pay for it and
/readyz can say "ready" without loading anything on an anonymous caller's behalf."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("voxgate.models.warmup")


class Warmup:
    def __init__(self, loaders: list[Callable[[], object]]) -> None:
        self.loaders = loaders
        self.failed = False
        self.done = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="voxgate-warmup", daemon=True).start()

    def _run(self) -> None:
        try:
            for load in self.loaders:
                load()
        except Exception:  # /readyz reports it; the reason belongs to the operator's log, not to callers
            log.exception("warming the default models failed")
            self.failed = True
        finally:
            self.done.set()
