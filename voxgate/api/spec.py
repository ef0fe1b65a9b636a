"""OpenAPI fragments for the routes that read their body by hand (multipart uploads, or JSON with base64 audio)
and answer with audio or text: FastAPI cannot see either from the signatures, so the routes declare them here."""

from __future__ import annotations

from typing import Any

from voxgate.audio.encode import CONTENT_TYPES

BINARY = {"type": "string", "format": "binary"}
TRANSCRIPT_FORMATS = ["json", "text", "srt", "verbose_json", "vtt", "diarized_json"]


def _upload_fields(task: str) -> dict[str, dict[str, Any]]:
    """The form fields of a transcription (task "transcribe") or translation, as multipart parts."""
    fields: dict[str, dict[str, Any]] = {
        "file": {**BINARY, "description": "The audio (any format PyAV decodes: wav, mp3, m4a, ogg, webm, flac...)"},
        "model": {"type": "string", "description": "A transcription model id or alias (e.g. whisper-1); a "
                                                   "pipeline-scoped key may omit it"},
        "prompt": {"type": "string", "description": "Text to steer the style or the spelling of names"},
        "response_format": {"type": "string", "default": "json",
                            "enum": TRANSCRIPT_FORMATS if task == "transcribe" else TRANSCRIPT_FORMATS[:-1]},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
        "stream": {"type": "boolean", "default": False, "description": "Server-sent events as the text is decoded"},
        "async": {"type": "boolean", "default": False, "description": "Queue a job and answer 202 with its id"},
    }
    if task == "transcribe":
        fields.update({
            "language": {"type": "string", "description": "ISO-639-1 code; detected when absent"},
            "languages": {"type": "array", "items": {"type": "string"},
                          "description": "Languages to detect among (code-switched audio)"},
            "timestamp_granularities[]": {"type": "array", "items": {"type": "string", "enum": ["word", "segment"]},
                                          "description": "verbose_json only"},
            "include[]": {"type": "array", "items": {"type": "string", "enum": ["logprobs"]}},
            "chunking_strategy": {"type": "string", "description": "'auto', or a JSON object "
                                  "{\"type\": \"server_vad\", \"threshold\": ...}"},
            "diarize": {"type": "boolean", "default": False, "description": "Label each segment's speaker"},
            "min_speakers": {"type": "integer", "minimum": 1},
            "max_speakers": {"type": "integer", "minimum": 1},
            "known_speaker_names[]": {"type": "array", "items": {"type": "string"}},
            "known_speaker_references[]": {"type": "array", "items": {"type": "string"},
                                           "description": "A data URL (or base64) clip of each named speaker"},
            "redact": {"type": "string", "description": "'true' for every PII category, or a comma list: email, "
                       "phone, card, person, location, ..."},
            "keywords[]": {"type": "array", "items": {"type": "string"}, "description": "Words to favour"},
        })
    return fields


def upload_body(task: str) -> dict[str, Any]:
    """`openapi_extra` for /v1/audio/transcriptions and /v1/audio/translations: multipart, or JSON + base64."""
    form = _upload_fields(task)
    as_json: dict[str, dict[str, Any]] = {
        name.removesuffix("[]"): schema for name, schema in form.items() if name != "file"}
    as_json["file_base64"] = {"type": "string", "description": "The audio as base64 or a data: URL"}
    as_json["filename"] = {"type": "string", "description": "Its name, for the format hint"}
    if "chunking_strategy" in as_json:
        as_json["chunking_strategy"] = {"oneOf": [{"type": "string", "enum": ["auto"]}, {"type": "object"}]}
    if "redact" in as_json:
        as_json["redact"] = {"oneOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string"}}]}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": form}},
        "application/json": {"schema": {"type": "object", "required": ["file_base64"], "properties": as_json}},
    }}}


TRANSCRIPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The transcript: JSON for json/verbose_json/diarized_json, text for text/srt/vtt, "
                         "server-sent events with stream=true", "content": {
        "application/json": {"schema": {"type": "object", "required": ["text"],
                                        "properties": {"text": {"type": "string"}}}},
        "text/plain": {"schema": {"type": "string"}},
        "text/event-stream": {"schema": {"type": "string"}},
    }},
    202: {"description": "async=true: the queued job (GET /v1/jobs/{job_id})",
          "content": {"application/json": {"schema": {"type": "object"}}}},
}

SPEECH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The audio in `response_format`, streamed as it is synthesised (or server-sent events "
                         "with stream_format=sse)",
          "content": {**{media: {"schema": BINARY} for media in dict.fromkeys(CONTENT_TYPES.values())},
                      "text/event-stream": {"schema": {"type": "string"}}}},
}

PIPELINE_RUN_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {**BINARY, "description": "The user's spoken turn"},
        "conversation_id": {"type": "string", "description": "Continue an earlier conversation"},
        "stream": {"type": "boolean", "default": True},
        "response_format": {"type": "string", "enum": list(CONTENT_TYPES), "default": "pcm"},
    }}}}}}
