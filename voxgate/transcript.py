"""Plain data that every ASR stage passes along: engines produce it, stitching, diarization and
redaction rewrite it, output formats render it. Kept free of model and HTTP code on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Word:
    """One recognised word with absolute times in seconds."""

    word: str
    start: float
    end: float
    probability: float = 1.0
    speaker: str | None = None


@dataclass
class Segment:
    """One decoded segment, shaped like OpenAI's verbose_json segment."""

    id: int
    start: float
    end: float
    text: str
    seek: int = 0
    tokens: list[int] = field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0
    no_speech_prob: float = 0.0
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None


@dataclass
class Transcript:
    """A whole transcription result; `language` is the ISO code, `duration` the audio length."""

    task: str  # "transcribe" | "translate"
    language: str
    duration: float
    segments: list[Segment]
    language_probability: float = 1.0

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]
