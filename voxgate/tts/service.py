"""Speech synthesis as a blocking byte stream (iterate it off the event loop): text -> PCM -> encoded audio."""

from __future__ import annotations

from typing import Iterator

from voxgate.audio.encode import StreamEncoder
from voxgate.models.stats import InferenceCounter
from voxgate.models.catalog import ModelSpec
from voxgate.models.registry import ModelRegistry
from voxgate.tts.engine import PiperEngine, SpeechOptions


class SpeechService:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self.inferences = InferenceCounter()  # synthesis runs per model (GET /v1/admin/stats)

    def engine(self, spec: ModelSpec) -> PiperEngine:
        return self.registry.get(spec, PiperEngine.load)

    def stream(self, spec: ModelSpec, text: str, opts: SpeechOptions, response_format: str) -> Iterator[bytes]:
        """Yield encoded bytes as each text piece is synthesised; the last item flushes the encoder."""
        engine = self.engine(spec)
        self.inferences.add(spec.id)
        encoder = StreamEncoder(response_format, engine.sample_rate)
        for block in engine.synthesize(text, opts):
            data = encoder.write(block)
            if data:
                yield data
        tail = encoder.close()
        if tail:
            yield tail
