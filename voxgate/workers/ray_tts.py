"""Speech synthesised by Ray actors: `RemoteSpeechEngine` is a `SpeechEngine` whose `synthesize` streams each
piece's PCM from an actor as it is made (a Ray streaming generator), so the first audio still leaves before the
whole text is synthesised. A client that goes away closes the generator, which cancels the actor's task."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voxgate.models.catalog import ModelSpec
from voxgate.tts.engine import PiperEngine, SpeechEngine, SpeechOptions
from voxgate.tts.kokoro import KokoroEngine


class TtsWorker:
    """The actor's body: one speech model (Piper or Kokoro)."""

    def __init__(self, spec: ModelSpec, path: str, cpu_threads: int, cache_dir: str) -> None:
        self.engine: SpeechEngine
        if spec.engine == "kokoro":
            self.engine = KokoroEngine.load(spec, Path(path), cpu_threads=cpu_threads, cache_dir=Path(cache_dir))
        else:
            self.engine = PiperEngine.load(spec, Path(path), cpu_threads=cpu_threads)

    def sample_rate(self) -> int:
        return self.engine.sample_rate

    def synthesize(self, text: str, opts: SpeechOptions) -> Iterator[np.ndarray]:
        yield from self.engine.synthesize(text, opts)


class RemoteSpeechEngine:
    """A speech model on Ray actors, used round robin; what the speech use case sees is an ordinary engine."""

    def __init__(self, actors: list[Any], sample_rate: int, timeout_s: float) -> None:
        self.actors = actors
        self._rate = sample_rate
        self.timeout_s = timeout_s
        self._next = itertools.cycle(range(len(actors)))
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self._rate

    def synthesize(self, text: str, opts: SpeechOptions) -> Iterator[np.ndarray]:
        import ray

        with self._lock:
            actor = self.actors[next(self._next)]
        stream = actor.synthesize.options(num_returns="streaming").remote(text, opts)
        finished = False
        try:
            for ref in stream:
                yield ray.get(ref, timeout=self.timeout_s)
            finished = True
        finally:
            if not finished:  # the caller stopped reading (a client hung up): stop the actor's work too
                ray.cancel(stream)


def remote_speech(ray: Any, spec: ModelSpec, path: Path, *, actors: int, actor_cpus: float, threads: int,
                  max_restarts: int, cache_dir: Path, start_timeout_s: float, timeout_s: float) -> RemoteSpeechEngine:
    remote = ray.remote(num_cpus=actor_cpus, max_restarts=max_restarts)(TtsWorker)
    made = [remote.remote(spec, str(path), threads, str(cache_dir)) for _ in range(actors)]
    rates = ray.get([a.sample_rate.remote() for a in made], timeout=start_timeout_s)
    return RemoteSpeechEngine(made, int(rates[0]), timeout_s)
