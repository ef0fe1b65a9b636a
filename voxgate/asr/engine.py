"""Whisper through faster-whisper (CTranslate2): the one place that turns 16 kHz samples into a Transcript."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from faster_whisper import WhisperModel

from voxgate.asr.types import Segment, Transcript, Word
from voxgate.models.catalog import ModelSpec

SAMPLE_RATE = 16000
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class DecodeOptions:
    """What a request may change about decoding."""

    task: str = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    word_timestamps: bool = False
    beam_size: int = 5

    def temperatures(self) -> tuple[float, ...]:
        # OpenAI semantics: 0 means "decide for me" (greedy with fallback), anything else is fixed.
        return FALLBACK_TEMPERATURES if self.temperature == 0 else (self.temperature,)


class WhisperEngine:
    """A loaded Whisper model; thread-safe, CTranslate2 serialises or parallelises calls itself."""

    def __init__(self, model: WhisperModel, spec: ModelSpec) -> None:
        self.model = model
        self.spec = spec

    @classmethod
    def load(cls, spec: ModelSpec, path: Path, cpu_threads: int) -> "WhisperEngine":
        model = WhisperModel(
            str(path), device="cpu", compute_type=spec.compute_type, cpu_threads=cpu_threads, num_workers=2
        )
        return cls(model, spec)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def iter_segments(
        self, audio: np.ndarray, opts: DecodeOptions, offset: float = 0.0
    ) -> tuple[Iterator[Segment], str, float]:
        """Decode lazily: returns (segments as they are decoded, language code, language probability)."""
        language = opts.language
        if not self.multilingual:
            language = "en"
        raw, info = self.model.transcribe(
            audio,
            language=language,
            task=opts.task if self.multilingual else "transcribe",
            initial_prompt=opts.prompt or None,
            temperature=list(opts.temperatures()),
            beam_size=opts.beam_size,
            word_timestamps=opts.word_timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
        )

        def convert() -> Iterator[Segment]:
            for i, s in enumerate(raw):
                words = [
                    Word(word=w.word, start=round(w.start + offset, 3), end=round(w.end + offset, 3),
                         probability=round(w.probability, 4))
                    for w in (s.words or [])
                ]
                yield Segment(
                    id=i, seek=s.seek, start=round(s.start + offset, 3), end=round(s.end + offset, 3), text=s.text,
                    tokens=list(s.tokens), temperature=s.temperature or 0.0, avg_logprob=s.avg_logprob,
                    compression_ratio=s.compression_ratio, no_speech_prob=s.no_speech_prob, words=words,
                )

        return convert(), info.language, info.language_probability

    def transcribe(
        self, audio: np.ndarray, opts: DecodeOptions, on_segment: Callable[[Segment], None] | None = None
    ) -> Transcript:
        """Decode a whole clip; `on_segment` sees each segment as soon as it is final (for streaming)."""
        segments_iter, language, probability = self.iter_segments(audio, opts)
        segments: list[Segment] = []
        for seg in segments_iter:
            segments.append(seg)
            if on_segment is not None:
                on_segment(seg)
        return Transcript(
            task=opts.task, language=language, duration=round(len(audio) / SAMPLE_RATE, 3),
            segments=segments, language_probability=probability,
        )
