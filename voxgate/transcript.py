"""Plain data that every ASR stage passes along: engines produce it, stitching, diarization and
redaction rewrite it, output formats render it, jobs store it as JSON. Kept free of model and HTTP code
on purpose: it is the one vocabulary every package may share."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


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


# A Transcript to JSON and back, so a finished job can be rendered later in any response_format.

VERSION = 1


def dump_transcript(transcript: Transcript) -> str:
    body = {
        "version": VERSION,
        "task": transcript.task,
        "language": transcript.language,
        "duration": transcript.duration,
        "language_probability": transcript.language_probability,
        "segments": [dataclasses.asdict(s) for s in transcript.segments],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def load_transcript(text: str) -> Transcript:
    body = json.loads(text)
    segments = []
    for raw in body["segments"]:
        seg = _known(Segment, raw)
        seg["words"] = [Word(**_known(Word, w)) for w in raw.get("words", [])]
        segments.append(Segment(**seg))
    return Transcript(task=body["task"], language=body["language"], duration=body["duration"], segments=segments,
                      language_probability=body.get("language_probability", 1.0))
