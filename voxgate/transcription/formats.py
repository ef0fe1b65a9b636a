"""Render a Transcript in every response_format the OpenAI contract names (json text srt vtt verbose_json
diarized_json). Pure functions: the API layer only picks the content type."""

from __future__ import annotations

import math
from typing import Any

from voxgate.models.languages import language_name
from voxgate.transcript import Segment, Transcript

TEXT_FORMATS = ("text", "srt", "vtt")
JSON_FORMATS = ("json", "verbose_json", "diarized_json")
ALL_FORMATS = JSON_FORMATS[:2] + TEXT_FORMATS + JSON_FORMATS[2:]


def formats_for(task: str) -> tuple[str, ...]:
    """The response formats of a task: a translation has no diarized_json."""
    return ALL_FORMATS if task == "transcribe" else tuple(f for f in ALL_FORMATS if f != "diarized_json")


def usage(transcript: Transcript) -> dict[str, Any]:
    """Audio-billed usage: whole seconds, rounded up."""
    return {"type": "duration", "seconds": billable_seconds(transcript.duration)}


def languages(transcript: Transcript) -> list[dict[str, str]]:
    """OpenAI's `languages: [{"code": "en"}]`: the language the audio was heard in (a translation's source)."""
    return [{"code": transcript.language}] if transcript.language else []


def billable_seconds(duration: float) -> int:
    return max(1, math.ceil(duration - 1e-6)) if duration > 0 else 0


def speaker_letter(label: str | None) -> str:
    """OpenAI's diarized labels: "Speaker 1" -> "A", "Speaker 2" -> "B", ...; known names stay as they are."""
    if not label:
        return "A"
    if label.startswith("Speaker ") and label[8:].isdigit():
        n = int(label[8:]) - 1
        return chr(65 + n % 26) + (str(n // 26) if n >= 26 else "")
    return label


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cue_text(seg: Segment, speakers: bool) -> str:
    text = seg.text.strip()
    return f"{seg.speaker}: {text}" if speakers and seg.speaker else text


def _cues(transcript: Transcript) -> list[Segment]:
    """Segments worth a subtitle cue: non-empty, with end after start."""
    return [s for s in transcript.segments if s.text.strip()]


def to_srt(transcript: Transcript, speakers: bool = False) -> str:
    blocks = []
    for i, seg in enumerate(_cues(transcript), start=1):
        end = max(seg.end, seg.start + 0.001)
        blocks.append(f"{i}\n{_timestamp(seg.start, ',')} --> {_timestamp(end, ',')}\n{_cue_text(seg, speakers)}\n")
    return "\n".join(blocks)


def to_vtt(transcript: Transcript, speakers: bool = False) -> str:
    blocks = ["WEBVTT\n"]
    for seg in _cues(transcript):
        end = max(seg.end, seg.start + 0.001)
        text = _cue_text(seg, False)
        if speakers and seg.speaker:
            text = f"<v {seg.speaker}>{text}"
        blocks.append(f"{_timestamp(seg.start, '.')} --> {_timestamp(end, '.')}\n{text}\n")
    return "\n".join(blocks)


def to_text(transcript: Transcript, speakers: bool = False) -> str:
    if not speakers:
        return transcript.text
    turns: list[str] = []
    current: str | None = None
    for seg in transcript.segments:
        text = seg.text.strip()
        if not text:
            continue
        if seg.speaker != current or not turns:
            turns.append(f"{seg.speaker}: {text}")
            current = seg.speaker
        else:
            turns[-1] += " " + text
    return "\n".join(turns)


def _segment_json(seg: Segment, speakers: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": seg.id, "seek": seg.seek, "start": seg.start, "end": seg.end, "text": seg.text,
        "tokens": seg.tokens, "temperature": seg.temperature, "avg_logprob": round(seg.avg_logprob, 4),
        "compression_ratio": round(seg.compression_ratio, 4), "no_speech_prob": round(seg.no_speech_prob, 4),
    }
    if speakers:
        out["speaker"] = seg.speaker
    return out


def to_verbose_json(transcript: Transcript, words: bool, speakers: bool = False) -> dict[str, Any]:
    language = "english" if transcript.task == "translate" else language_name(transcript.language)
    body: dict[str, Any] = {
        "task": transcript.task,
        "language": language,
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [_segment_json(s, speakers) for s in transcript.segments],
    }
    if words:
        body["words"] = []
        for w in transcript.words:
            item: dict[str, Any] = {"word": w.word.strip(), "start": w.start, "end": w.end}
            if speakers:
                item["speaker"] = w.speaker
            body["words"].append(item)
    body["languages"] = languages(transcript)
    body["usage"] = usage(transcript)
    return body


def to_diarized_json(transcript: Transcript) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [
            {"type": "transcript.text.segment", "id": f"seg_{i + 1:03d}", "start": s.start, "end": s.end,
             "text": s.text.strip(), "speaker": speaker_letter(s.speaker)}
            for i, s in enumerate(_cues(transcript))
        ],
        "usage": usage(transcript),
    }


def render(transcript: Transcript, response_format: str, *, words: bool = False,
           speakers: bool = False) -> tuple[str | dict[str, Any], str]:
    """Return (body, media type): a dict for JSON formats, a str for text formats."""
    if response_format == "json":
        return {"text": transcript.text, "languages": languages(transcript), "usage": usage(transcript)}, \
            "application/json"
    if response_format == "verbose_json":
        return to_verbose_json(transcript, words, speakers), "application/json"
    if response_format == "diarized_json":
        return to_diarized_json(transcript), "application/json"
    if response_format == "text":
        return to_text(transcript, speakers) + "\n", "text/plain; charset=utf-8"
    if response_format == "srt":
        return to_srt(transcript, speakers), "text/plain; charset=utf-8"
    if response_format == "vtt":
        return to_vtt(transcript, speakers), "text/plain; charset=utf-8"
    raise ValueError(f"unknown response_format {response_format!r}")
