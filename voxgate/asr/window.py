"""What the decoder works on and hands back: one request's decoding options, a ≤30 s window, its result.

Plain data shared by the engine (which fills it), the scheduler (which batches it) and the long-form
stages (which read it); keeping it here is what lets those modules import each other one way only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.transcript import Segment

WINDOW_SAMPLES = 30 * SAMPLE_RATE
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 2.4  # above: repetitive output, decode again hotter
LOGPROB_THRESHOLD = -1.0  # below: unsure output, decode again hotter
NO_SPEECH_THRESHOLD = 0.6  # above (and unsure): the window is silence


@dataclass(frozen=True)
class DecodeOptions:
    """What a request may change about decoding."""

    task: str = "transcribe"
    language: str | None = None
    languages: tuple[str, ...] = ()  # expected languages: detection chooses among these only
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    timings: bool = False  # segment times wanted (verbose_json, srt, vtt, diarized_json): align words
    beam_size: int = 5
    best_of: int = 5
    fallback: bool = True  # decode a failed window again hotter (off for throwaway drafts)

    def temperatures(self) -> tuple[float, ...]:
        # OpenAI semantics: 0 means "decide for me" (greedy with fallback), anything else is fixed.
        return FALLBACK_TEMPERATURES if self.temperature == 0 and self.fallback else (self.temperature,)


class LanguageSlot:
    """A request's language: given, or detected once from its first decoded window and then kept.

    `allowed` (the client's expected languages) limits what detection may choose; one allowed language
    is simply the language."""

    def __init__(self, language: str | None, allowed: tuple[str, ...] = ()) -> None:
        self.language = language or (allowed[0] if len(allowed) == 1 else None)
        self.allowed = allowed
        self.probability = 1.0
        self.detecting = False  # a batch holding this request's windows is detecting it right now
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        """Picklable (windows travel to Ray actors): everything but the lock."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def offer(self, language: str, probability: float) -> None:
        with self._lock:
            if self.language is None:
                self.language, self.probability = language, probability

    def switch(self, language: str, probability: float) -> None:
        """A second opinion overrules detection (only for a request's sole window, before its result)."""
        with self._lock:
            self.language, self.probability = language, probability

    def permitted(self, ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """The detector's ranking cut to the languages the client allows (all of it when none are given)."""
        kept = [(code, p) for code, p in ranked if code in self.allowed] if self.allowed else ranked
        return kept or ranked

    def choose(self, ranked: list[tuple[str, float]]) -> tuple[str, float]:
        """The most probable (language code, probability) that the client allows."""
        return self.permitted(ranked)[0]


@dataclass
class Window:
    """One decoding job: a ≤30 s window's features and how to decode them."""

    features: np.ndarray | None  # (n_mels, frames) log-mel, 3000 frames for 30 s; None once encoded
    duration: float  # seconds of real audio in the window
    opts: DecodeOptions
    language: LanguageSlot
    align: bool = False  # word timings wanted (asked for, or needed to resolve an overlap)
    prompt_tokens: tuple[int, ...] = ()
    seams: tuple[float, ...] = ()  # window times where silence was cut out (segments split there)
    sole: bool = False  # the request's only window: an unsure language guess may be reconsidered
    rivals: tuple[tuple[str, float], ...] = ()  # runner-up languages to decode too (set at detection)
    step: int = 0  # index into opts.temperatures(): above 0, a fallback decode
    encoded: np.ndarray | None = None  # kept encoder output, so a fallback does not encode again
    best: Decoded | None = None  # best failed attempt so far

    @property
    def temperature(self) -> float:
        return self.opts.temperatures()[self.step]

    @property
    def batch_key(self) -> tuple[object, ...]:
        """Windows decode together only with equal generation settings (CTranslate2 also needs the
        start-of-transcript token at one position, hence the prompt length)."""
        o = self.opts
        return o.beam_size, self.temperature, o.best_of, len(self.prompt_tokens), self.encoded is None, self.frames

    @property
    def frames(self) -> int:
        """Mel frames the encoder sees (3000 for a full 30 s window): windows batch only with equal sizes."""
        if self.features is not None:
            return int(self.features.shape[-1])
        if self.encoded is not None:
            return int(self.encoded.shape[0]) * 2
        return 3000


@dataclass
class WindowResult:
    segments: list[Segment]  # times relative to the window
    language: str
    language_probability: float
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0
    temperature: float = 0.0
    notes: list[str] = field(default_factory=list)  # what decoding had to work around, for the log
    retry: Window | None = None  # not final: decode this again (hotter) and use that result instead


@dataclass
class Decoded:
    tokens: list[int]
    text: str  # the tokens before end-of-text, decoded once (unstripped)
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float

    def failed(self) -> bool:
        if self.no_speech_prob > NO_SPEECH_THRESHOLD and self.avg_logprob < LOGPROB_THRESHOLD:
            return False  # silence: falling back cannot help
        return self.compression_ratio > COMPRESSION_RATIO_THRESHOLD or self.avg_logprob < LOGPROB_THRESHOLD


class Decoder(Protocol):
    """What the batch scheduler needs of an engine: decode one batch of windows."""

    def decode(self, windows: list[Window]) -> list[WindowResult]: ...
