"""A Transcript to JSON and back, so a finished job can be rendered later in any response_format."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from voxgate.asr.types import Segment, Transcript, Word

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
