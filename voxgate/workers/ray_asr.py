"""Whisper batches decoded by Ray actors: `RayDecoder` is the batch scheduler's `Decoder`, sending each batch of
windows to the next actor (round robin), each actor a `WhisperEngine` of the same model with its own CPU.

What a window carries back is reconciled here: the language an actor detected is offered to the request's own
language slot (the actor decoded a copy), and a window to decode again hotter points at that slot again. An actor
that dies is restarted by Ray and its batch retried once (`max_restarts`, `max_task_retries`); past that the
batch fails with a clear error and its requests with it."""

from __future__ import annotations

import itertools
import logging
import threading
from pathlib import Path
from typing import Any

from voxgate.asr.engine import WhisperEngine
from voxgate.asr.window import Window, WindowResult
from voxgate.config import RaySettings
from voxgate.models.catalog import ModelSpec

log = logging.getLogger("voxgate.workers")


class RemoteDecodeError(RuntimeError):
    """A Ray actor could not decode a batch (it died past its restarts, or the cluster went away)."""


class AsrWorker:
    """The actor's body: one Whisper model, decoding what the scheduler sends (one batch at a time)."""

    def __init__(self, spec: ModelSpec, path: str, cpu_threads: int, batch_size: int, short_window_s: float) -> None:
        self.engine = WhisperEngine.load(spec, Path(path), cpu_threads=cpu_threads, workers=1, batch_size=batch_size,
                                         short_window_s=short_window_s)

    def decode(self, windows: list[Window]) -> list[WindowResult]:
        return self.engine.decode(windows)

    def pid(self) -> int:
        import os

        return os.getpid()


class RayDecoder:
    """The scheduler's Decoder over a set of actors; safe to call from several scheduler workers at once."""

    def __init__(self, actors: list[Any], timeout_s: float) -> None:
        self.actors = actors
        self.timeout_s = timeout_s
        self._next = itertools.cycle(range(len(actors)))
        self._lock = threading.Lock()

    def decode(self, windows: list[Window]) -> list[WindowResult]:
        import ray

        with self._lock:
            actor = self.actors[next(self._next)]
        try:
            results: list[WindowResult] = ray.get(actor.decode.remote(windows), timeout=self.timeout_s)
        except (ray.exceptions.RayError, TimeoutError) as exc:
            raise RemoteDecodeError(f"a Ray worker failed to decode {len(windows)} windows: {exc}") from exc
        for window, result in zip(windows, results):
            slot = window.language
            if window.sole and slot.language not in (None, result.language):
                slot.switch(result.language, result.language_probability)  # a second opinion overruled it
            elif slot.language is None:
                slot.offer(result.language, result.language_probability)
            if result.retry is not None:
                result.retry.language = slot
        return results


class RayAsr:
    """Connects to the cluster once and makes each model's actors when the model is first loaded."""

    def __init__(self, settings: RaySettings, cpu_threads: int, batch_size: int, short_window_s: float) -> None:
        self.settings = settings
        self.cpu_threads = cpu_threads
        self.batch_size = batch_size
        self.short_window_s = short_window_s
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import ray

        with self._lock:
            if not ray.is_initialized():
                ray.init(address=self.settings.address, log_to_driver=False, logging_level=logging.WARNING,
                         namespace=self.settings.namespace)
        return ray

    def speech(self, spec: ModelSpec, path: Path, cache_dir: Path) -> Any:
        """A speech model on `settings.tts_actors` actors (what SpeechService loads instead of the local engine)."""
        from voxgate.workers.ray_tts import remote_speech

        ray = self._connect()
        settings = self.settings
        engine = remote_speech(ray, spec, path, actors=settings.tts_actors, actor_cpus=settings.actor_cpus,
                               threads=settings.actor_threads, max_restarts=settings.max_restarts, cache_dir=cache_dir,
                               start_timeout_s=settings.start_timeout_s, timeout_s=settings.decode_timeout_s)
        log.info("%s: %d Ray actors synthesise its speech", spec.id, self.settings.tts_actors)
        return engine

    def offload(self, engine: WhisperEngine, path: Path) -> None:
        """Give `engine`'s batches to `settings.asr_actors` actors of its model (what TranscriptionService calls
        right after loading a model)."""
        ray = self._connect()
        remote = ray.remote(num_cpus=self.settings.actor_cpus, max_restarts=self.settings.max_restarts,
                            max_task_retries=self.settings.max_restarts)(AsrWorker)
        actors = [remote.remote(engine.spec, str(path), self.settings.actor_threads, self.batch_size,
                                self.short_window_s)
                  for _ in range(self.settings.asr_actors)]
        ray.get([a.pid.remote() for a in actors], timeout=self.settings.start_timeout_s)  # loaded, or a clear error
        log.info("%s: %d Ray actors decode its batches", engine.spec.id, len(actors))
        engine.offload(RayDecoder(actors, self.settings.decode_timeout_s), workers=len(actors))
