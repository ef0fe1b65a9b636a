"""The speech use case: validate a request against the catalog, then synthesise it as a blocking byte
stream (iterate it off the event loop): text -> PCM -> encoded audio, piece by piece."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from voxgate.audio.encode import CONTENT_TYPES, StreamEncoder
from voxgate.errors import bad_request
from voxgate.models.catalog import Catalog, ModelSpec
from voxgate.models.registry import ModelRegistry
from voxgate.models.stats import InferenceCounter
from voxgate.tts.engine import PiperEngine, SpeechEngine, SpeechOptions
from voxgate.tts.kokoro import KokoroEngine, voice_gender, voice_language

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _voice_traits(spec: ModelSpec, voice: str) -> tuple[str | None, str | None]:
    """(ISO-639-1 language, gender) of a native voice: from its Kokoro id, else the catalog entry's options."""
    if spec.engine == "kokoro":
        return voice_language(voice)[1], voice_gender(voice)
    language, gender = spec.options.get("language"), spec.options.get("gender")
    return (str(language) if language else None), (str(gender) if gender else None)


@dataclass(frozen=True)
class Utterance:
    """A validated speech request: which model, what to say, how, and in which audio format."""

    spec: ModelSpec
    text: str
    options: SpeechOptions
    response_format: str

    @property
    def media_type(self) -> str:
        return CONTENT_TYPES[self.response_format]


class SpeechService:
    def __init__(self, catalog: Catalog, registry: ModelRegistry, cpu_threads: int, max_input_chars: int) -> None:
        self.catalog = catalog
        self.registry = registry
        self.cpu_threads = cpu_threads
        self.max_input_chars = max_input_chars
        self.inferences = InferenceCounter()  # synthesis runs per model (GET /v1/admin/stats)

    def engine(self, spec: ModelSpec) -> SpeechEngine:
        if spec.engine == "kokoro":
            return self.registry.get(spec, functools.partial(KokoroEngine.load, cpu_threads=self.cpu_threads,
                                                             cache_dir=self.registry.cache_dir))
        return self.registry.get(spec, functools.partial(PiperEngine.load, cpu_threads=self.cpu_threads))

    def prepare(self, model: str | None, text: str, voice: str, speed: float = 1.0,
                response_format: str = "mp3") -> Utterance:
        """Check model, input and voice (APIError naming the field) before any credit is held."""
        spec = self.catalog.require(model, "speech")
        text = _CONTROL.sub(" ", text)  # control characters and unpaired surrogates break the phonemizer
        if not text.strip():
            raise bad_request("'input' must not be empty", param="input", code="empty_input")
        if len(text) > self.max_input_chars:
            raise bad_request(f"'input' is {len(text)} characters; the limit is {self.max_input_chars}",
                              param="input", code="input_too_long")
        native = spec.resolve_voice(voice)
        if native is None:
            raise bad_request(f"unknown voice {voice!r} for model {spec.id!r}; valid voices: "
                              f"{', '.join(spec.voice_names())}", param="voice", code="invalid_voice")
        return Utterance(spec, text, SpeechOptions(voice=native, speed=speed), response_format)

    def voices(self, model: str | None = None) -> list[dict[str, str | None]]:
        """Every voice of every available speech model (or of `model`): the `audio.voice` objects."""
        specs = [self.catalog.require(model, "speech")] if model else [
            s for s in self.catalog.models.values() if s.task == "speech" and s.is_available()]
        out: list[dict[str, str | None]] = []
        for spec in specs:
            for voice in spec.voices:
                language, gender = _voice_traits(spec, voice)
                out.append({"id": voice, "object": "audio.voice", "model": spec.id, "name": voice,
                            "language": language, "gender": gender})
        return out

    def stream(self, utterance: Utterance) -> Iterator[bytes]:
        """Yield encoded bytes as each text piece is synthesised; the last item flushes the encoder."""
        engine = self.engine(utterance.spec)
        self.inferences.add(utterance.spec.id)
        encoder = StreamEncoder(utterance.response_format, engine.sample_rate)
        for block in engine.synthesize(utterance.text, utterance.options):
            data = encoder.write(block)
            if data:
                yield data
        tail = encoder.close()
        if tail:
            yield tail
