"""A transcription or translation request, validated once into a typed, serialisable object.

The synchronous routes, async jobs and the CLI all run the same `TranscriptionRequest`: the API parses
form or JSON fields into it (every 400 names the field), a job stores it as JSON and runs it later
without any HTTP parsing, and the service derives decoding and enrichment options from it."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from voxgate.asr import DecodeOptions, VadParams
from voxgate.audio import SAMPLE_RATE
from voxgate.audio.decode import AudioDecodeError, decode_audio
from voxgate.errors import APIError, bad_request
from voxgate.models.catalog import Catalog
from voxgate.models.languages import normalize_language
from voxgate.redact import parse_categories
from voxgate.transcription.enrich import Enrichment
from voxgate.transcription.fields import Fields, decode_base64
from voxgate.transcription.formats import formats_for

Task = Literal["transcribe", "translate"]
GRANULARITIES = ("word", "segment")
UNTIMED_FORMATS = ("json", "text")  # no segment times shown: skip word alignment
MAX_KNOWN_SPEAKERS = 4
REFERENCE_SECONDS = (2.0, 10.0)
MAX_KEYWORDS = 100
MAX_KEYWORD_CHARS = 100
_KEYWORD_FORBIDDEN = ("<", ">", "\r", "\n")


class Chunking(BaseModel):
    """`chunking_strategy`: OpenAI's server_vad knobs ("auto" is the defaults)."""

    model_config = ConfigDict(frozen=True)

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200

    def vad(self) -> VadParams:
        return VadParams(threshold=self.threshold, prefix_padding_ms=self.prefix_padding_ms,
                         silence_duration_ms=self.silence_duration_ms)


class KnownSpeaker(BaseModel):
    """A name and a 2-10 s reference clip of that voice, kept as 16 kHz mono float32 PCM bytes."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    name: str
    pcm: bytes

    def audio(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype=np.float32)


class TranscriptionRequest(BaseModel):
    """Everything a transcription or translation asks for, already validated (model is a catalog id)."""

    model_config = ConfigDict(frozen=True)

    task: Task = "transcribe"
    model: str
    response_format: str = "json"
    language: str | None = None
    languages: tuple[str, ...] = ()  # expected languages (ISO codes): detection picks among them
    prompt: str | None = None
    keywords: tuple[str, ...] = ()  # domain words, biasing decoding through the prompt
    temperature: float = 0.0
    words: bool = False  # timestamp_granularities[] includes "word"
    stream: bool = False
    chunking: Chunking | None = None  # None: one pass up to 30 s, VAD windows beyond
    diarize: bool = False
    min_speakers: int | None = None
    max_speakers: int | None = None
    known_speakers: tuple[KnownSpeaker, ...] = ()
    redact: frozenset[str] | None = Field(default=None)  # PII categories; None: no redaction

    def decode_options(self) -> DecodeOptions:
        return DecodeOptions(
            task=self.task, language=self.language, languages=self.languages, prompt=self.decoding_prompt(),
            temperature=self.temperature,
            word_timestamps=self.words or self.diarize,  # speaker changes are found word by word
            timings=self.response_format not in UNTIMED_FORMATS or self.diarize,
        )

    def decoding_prompt(self) -> str | None:
        """The prompt Whisper is conditioned on: the client's prompt, then its keywords. Whisper keeps the
        prompt's last tokens when it is too long, so the keywords go last."""
        if not self.keywords:
            return self.prompt
        glossary = ", ".join(self.keywords) + "."
        return f"{self.prompt.rstrip()} {glossary}" if self.prompt and self.prompt.strip() else glossary

    def enrichment(self) -> Enrichment:
        return Enrichment(diarize=self.diarize, min_speakers=self.min_speakers, max_speakers=self.max_speakers,
                          known_speakers={s.name: s.audio() for s in self.known_speakers}, redact=self.redact)

    def for_storage(self) -> TranscriptionRequest:
        """This request decoded for every format at once: aligned sentence segments with word times. A job
        stores its transcript once and renders it later in whatever format is asked for (srt cues, not
        window-long segments, even when it was submitted as json)."""
        return self.model_copy(update={"response_format": "verbose_json", "words": True})

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> TranscriptionRequest:
        return cls.model_validate_json(text)


def parse_request(fields: Fields, task: Task, catalog: Catalog) -> TranscriptionRequest:
    """Validate every contract field; anything wrong is a 400 (404 for an unknown model) naming the field."""
    spec = catalog.require(fields.text("model"), "transcription")
    formats = formats_for(task)
    response_format = fields.text("response_format") or "json"
    if response_format not in formats:
        raise bad_request(f"response_format must be one of {', '.join(formats)}, got {response_format!r}",
                          param="response_format")
    language = _language(fields, task)
    languages = _languages(fields)
    if language and languages:
        raise bad_request("send either 'language' or 'languages', not both", param="languages")
    granularities = fields.texts("timestamp_granularities")
    unknown = [g for g in granularities if g not in GRANULARITIES]
    if unknown:
        raise bad_request(f"timestamp_granularities must be word and/or segment, got {unknown[0]!r}",
                          param="timestamp_granularities")
    include = fields.texts("include")
    if any(i != "logprobs" for i in include):
        raise bad_request("include accepts only 'logprobs'", param="include")
    if include:  # OpenAI offers logprobs only for its gpt-4o transcription models, not for Whisper
        raise bad_request("include[]=logprobs is not supported by Whisper models: their decoder here returns "
                          "sequence scores, not token log-probabilities", param="include", code="unsupported_value")
    known = _known_speakers(fields)
    min_speakers = fields.integer("min_speakers", 1, 20)
    max_speakers = fields.integer("max_speakers", 1, 20)
    if min_speakers and max_speakers and min_speakers > max_speakers:
        raise bad_request("min_speakers must not exceed max_speakers", param="min_speakers")
    return TranscriptionRequest(
        task=task, model=spec.id, response_format=response_format, language=language, languages=languages,
        prompt=fields.text("prompt"), keywords=_keywords(fields),
        temperature=fields.number("temperature", 0.0, 0.0, 1.0),
        words="word" in granularities, stream=fields.flag("stream"), chunking=_chunking(fields),
        diarize=fields.flag("diarize") or response_format == "diarized_json" or bool(known),
        min_speakers=min_speakers, max_speakers=max_speakers, known_speakers=known, redact=_redact(fields),
    )


def _language(fields: Fields, task: Task) -> str | None:
    raw = fields.text("language")
    if task != "transcribe" or not raw:
        return None  # a translation always comes out in English
    language = normalize_language(raw)
    if language is None:
        raise bad_request(f"unknown language {raw!r}: use an ISO-639-1 code such as 'en'", param="language")
    return language


def _languages(fields: Fields) -> tuple[str, ...]:
    """`languages[]`: the languages the audio is expected in, as ISO codes, each once."""
    codes: list[str] = []
    for raw in fields.texts("languages"):
        code = normalize_language(raw)
        if code is None:
            raise bad_request(f"unknown language {raw[:40]!r} in 'languages': use ISO-639-1 codes such as 'en'",
                              param="languages")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def _keywords(fields: Fields) -> tuple[str, ...]:
    """`keywords[]`: domain words; like OpenAI, one holding `<`, `>`, CR or LF fails the request."""
    words = [w.strip() for w in fields.strings("keywords") if w.strip()]
    if len(words) > MAX_KEYWORDS:
        raise bad_request(f"at most {MAX_KEYWORDS} keywords", param="keywords")
    for word in words:
        if any(c in word for c in _KEYWORD_FORBIDDEN):
            raise bad_request("keywords must not contain '<', '>', carriage returns or line breaks",
                              param="keywords")
        if len(word) > MAX_KEYWORD_CHARS:
            raise bad_request(f"a keyword is longer than {MAX_KEYWORD_CHARS} characters", param="keywords")
    return tuple(dict.fromkeys(words))


def _chunking(fields: Fields) -> Chunking | None:
    """chunking_strategy: "auto", or {"type": "server_vad", threshold, prefix_padding_ms, silence_duration_ms}
    (multipart sends the object as chunking_strategy[type], chunking_strategy[threshold], ...)."""
    obj = fields.mapping("chunking_strategy")
    if obj is None:
        raw = fields.text("chunking_strategy")
        if raw is None or raw == "":
            return None
        if raw.strip().lower() == "auto":
            return Chunking()
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            raise bad_request("chunking_strategy must be \"auto\" or a server_vad object", param="chunking_strategy")
    sub = Fields({k: [v] for k, v in obj.items() if v is not None})
    kind = sub.text("type") or "server_vad"
    if kind == "auto":
        return Chunking()
    if kind != "server_vad":
        raise bad_request(f"chunking_strategy type must be auto or server_vad, got {kind!r}", param="chunking_strategy")
    try:
        return Chunking(
            threshold=sub.number("threshold", 0.5, 0.0, 1.0),
            prefix_padding_ms=_milliseconds(sub, "prefix_padding_ms", 300),
            silence_duration_ms=_milliseconds(sub, "silence_duration_ms", 200),
        )
    except APIError as exc:
        raise bad_request(f"chunking_strategy: {exc.message}", param="chunking_strategy") from None


def _milliseconds(fields: Fields, name: str, default: int) -> int:
    value = fields.integer(name, 0, 10_000)
    return default if value is None else value


def _known_speakers(fields: Fields) -> tuple[KnownSpeaker, ...]:
    """known_speaker_names[] with known_speaker_references[] (data URLs of 2-10 s clips), same order."""
    names = [n.strip() for n in fields.strings("known_speaker_names") if n.strip()]
    refs = fields.strings("known_speaker_references")
    if not names and not refs:
        return ()
    if len(names) != len(refs):
        raise bad_request(f"known_speaker_names has {len(names)} entries but known_speaker_references has "
                          f"{len(refs)}: give one reference clip per name", param="known_speaker_references")
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise bad_request(f"at most {MAX_KNOWN_SPEAKERS} known speakers", param="known_speaker_names")
    if len(set(names)) != len(names):
        raise bad_request("known_speaker_names must be distinct", param="known_speaker_names")
    speakers = []
    for i, (name, ref) in enumerate(zip(names, refs)):
        param = f"known_speaker_references[{i}]"
        try:
            # Capped while decoding: a tiny clip must not expand into minutes of samples in memory.
            audio = decode_audio(decode_base64(ref, param), max_seconds=REFERENCE_SECONDS[1] + 0.5)
        except AudioDecodeError as exc:
            raise bad_request(f"{param}: {exc}", param="known_speaker_references") from None
        seconds = len(audio) / SAMPLE_RATE
        low, high = REFERENCE_SECONDS
        if not low <= seconds <= high + 0.05:
            raise bad_request(f"{param} is {seconds:.1f} s long; reference clips must be {low:g}-{high:g} s",
                              param="known_speaker_references")
        speakers.append(KnownSpeaker(name=str(name), pcm=np.ascontiguousarray(audio, dtype=np.float32).tobytes()))
    return tuple(speakers)


def _redact(fields: Fields) -> frozenset[str] | None:
    values = fields.values.get("redact", [])
    if not values:
        return None
    # Fields already flattens JSON lists and repeated `redact[]` parts into `values`.
    value: bool | str | list[str] = values[0] if len(values) == 1 and isinstance(values[0], bool) \
        else str(values[0]) if len(values) == 1 else [str(v) for v in values]
    try:
        return parse_categories(value)
    except ValueError as exc:
        raise bad_request(str(exc), param="redact") from None
