"""The speech use case: validate a request against the catalog, then synthesise it as a blocking byte
stream (iterate it off the event loop): text -> PCM -> encoded audio, piece by piece."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voxgate.audio.encode import CONTENT_TYPES, StreamEncoder
from voxgate.errors import bad_request
from voxgate.models.catalog import Catalog, ModelSpec
from voxgate.models.registry import ModelRegistry
from voxgate.models.stats import InferenceCounter
from voxgate.tts.engine import PiperEngine, SpeechEngine, SpeechOptions
from voxgate.tts.kokoro import KokoroEngine, voice_gender, voice_language
from voxgate.tts.voices import KOKORO_LANGUAGES, BlendError, is_blend, pace_factor, parse_blend

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
    def __init__(self, catalog: Catalog, registry: ModelRegistry, cpu_threads: int, max_input_chars: int,
                 remote: Callable[[ModelSpec, Path, Path], SpeechEngine] | None = None) -> None:
        self.catalog = catalog
        self.remote = remote  # (spec, weights, cache dir) -> an engine elsewhere (Ray actors), if set
        self.registry = registry
        self.cpu_threads = cpu_threads
        self.max_input_chars = max_input_chars
        self.inferences = InferenceCounter()  # synthesis runs per model (GET /v1/admin/stats)

    def engine(self, spec: ModelSpec) -> SpeechEngine:
        if self.remote is not None:
            remote, cache = self.remote, self.registry.cache_dir
            return self.registry.get(spec, lambda s, path: remote(s, path, cache))
        if spec.engine == "kokoro":
            return self.registry.get(spec, functools.partial(KokoroEngine.load, cpu_threads=self.cpu_threads,
                                                             cache_dir=self.registry.cache_dir))
        return self.registry.get(spec, functools.partial(PiperEngine.load, cpu_threads=self.cpu_threads))

    def prepare(self, model: str | None, text: str, voice: str, speed: float = 1.0, response_format: str = "mp3",
                language: str | None = None, instructions: str | None = None) -> Utterance:
        """Check model, input, voice and language (APIError naming the field) before any credit is held.
        Pace words in `instructions` ("slowly", "quickly") scale `speed`; nothing else in them is used."""
        spec = self.catalog.require(model, "speech")
        return self.prepare_for(spec, text, voice, speed, response_format, language, instructions)

    def prepare_for(self, spec: ModelSpec, text: str, voice: str, speed: float = 1.0, response_format: str = "mp3",
                    language: str | None = None, instructions: str | None = None) -> Utterance:
        text = _CONTROL.sub(" ", text)  # control characters and unpaired surrogates break the phonemizer
        if not text.strip():
            raise bad_request("'input' must not be empty", param="input", code="empty_input")
        if len(text) > self.max_input_chars:
            raise bad_request(f"'input' is {len(text)} characters; the limit is {self.max_input_chars}",
                              param="input", code="input_too_long")
        native = self.resolve_voice(spec, voice)
        speed = min(4.0, max(0.25, speed * pace_factor(instructions)))
        options = SpeechOptions(voice=native, speed=speed, language=self._language(spec, language))
        return Utterance(spec, text, options, response_format)

    def resolve_voice(self, spec: ModelSpec, voice: str) -> str:
        """The native voice (or canonical blend expression) `voice` names on `spec`, else a 400 listing them."""
        if is_blend(voice):
            if spec.engine != "kokoro":
                raise bad_request(f"model {spec.id!r} cannot blend voices; blends such as 'af_bella(2)+af_sky(1)' "
                                  "need a Kokoro model", param="voice", code="invalid_voice")
            try:
                blend = parse_blend(voice)
            except BlendError as exc:
                raise bad_request(f"invalid voice blend {voice!r}: {exc}", param="voice",
                                  code="invalid_voice") from None
            parts = [(self.resolve_voice(spec, part), weight) for part, weight in blend.parts]
            return parse_blend("+".join(f"{part}({weight})" for part, weight in parts)).expression()
        native = spec.resolve_voice(voice)
        if native is None:
            raise bad_request(f"unknown voice {voice!r} for model {spec.id!r}; valid voices: "
                              f"{', '.join(spec.voice_names())}", param="voice", code="invalid_voice")
        return native

    @staticmethod
    def _language(spec: ModelSpec, language: str | None) -> str | None:
        """The engine's code for a requested language (None: the voice's own), or a 400 naming those it has."""
        if language is None:
            return None
        wanted = language.strip().lower().replace("_", "-")
        if spec.engine == "kokoro":
            if wanted in KOKORO_LANGUAGES:
                return KOKORO_LANGUAGES[wanted]
            known = ", ".join(sorted(KOKORO_LANGUAGES))
        else:
            own = str(spec.options.get("language") or "en")
            if wanted.split("-")[0] == own:
                return None
            known = own
        raise bad_request(f"model {spec.id!r} cannot speak language {language!r}; it speaks: {known}",
                          param="language", code="unsupported_language")

    def voices(self, model: str | None = None) -> list[dict[str, str | None]]:
        """Every voice of every available speech model (or of `model`): the `audio.voice` objects."""
        specs = [self.catalog.require(model, "speech")] if model else [
            s for s in self.catalog.models.values() if s.task == "speech" and s.is_available()]
        out: list[dict[str, str | None]] = []
        for spec in specs:
            for voice in sorted(spec.voices, key=spec.voices.__getitem__):
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
