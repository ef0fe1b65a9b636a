"""Inputs that gave a 500 in the hardening review (issue 11): each is now a 400 in the error envelope, answered
quickly, and the server stays healthy after it. The start of the issue's bad-input corpus."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.corpus import encoded, wav
from tests.helpers import librivox_clips

CLIP, _ = librivox_clips()[1]
NESTED = "[" * 200_000 + "]" * 200_000


def _audio() -> str:
    return base64.b64encode(CLIP.read_bytes()).decode()


CASES: list[tuple[str, str, dict[str, Any]]] = [
    # (case, route, httpx request arguments)
    ("nested JSON upload body", "/v1/audio/transcriptions",
     {"content": NESTED, "headers": {"content-type": "application/json"}}),
    ("nested JSON with an idempotency key", "/v1/audio/transcriptions",
     {"content": NESTED, "headers": {"content-type": "application/json", "idempotency-key": "nested-1"}}),
    ("nested JSON speech body", "/v1/audio/speech",
     {"content": NESTED, "headers": {"content-type": "application/json"}}),
    ("nested chunking_strategy", "/v1/audio/transcriptions",
     {"data": {"model": "whisper-1", "chunking_strategy": NESTED}, "files": {"file": ("a.wav", CLIP.read_bytes())}}),
    ("known_speaker_names of numbers", "/v1/audio/transcriptions",
     {"json": {"model": "whisper-1", "file_base64": "", "known_speaker_names": [1]}}),
    ("temperature as a list", "/v1/audio/transcriptions",
     {"json": {"model": "whisper-1", "file_base64": "", "temperature": [0.5]}}),
    ("temperature[] as a multipart list", "/v1/audio/transcriptions",
     {"data": {"model": "whisper-1", "temperature[]": "0.1"}, "files": {"file": ("a.wav", CLIP.read_bytes())}}),
    ("stream as a list", "/v1/audio/transcriptions",
     {"json": {"model": "whisper-1", "file_base64": "", "stream": [True]}}),
]


@pytest.mark.parametrize(("case", "route", "request_args"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_400_in_the_envelope(server: LiveServer, case: str, route: str,
                                            request_args: dict[str, Any]) -> None:
    args = dict(request_args)
    if "json" in args and args["json"].get("file_base64") == "":
        args["json"] = {**args["json"], "file_base64": _audio()}
    with server.http() as http:
        started = time.perf_counter()
        response = http.post(route, **args)
        elapsed = time.perf_counter() - started
        assert response.status_code == 400, (case, response.status_code, response.text[:300])
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
        assert elapsed < 10, f"{case}: {elapsed:.1f} s"
        assert http.get("/healthz").status_code == 200


def test_control_characters_in_speech_input_are_not_spoken(server: LiveServer) -> None:
    from tests.helpers import decode

    with server.http() as http:
        response = http.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "response_format": "wav",
                                                       "input": "Hello\x00 there,\x07 friend.\x1b"})
        assert response.status_code == 200, response.text[:300]
        assert decode(response.content).duration > 0.5
        only_control = http.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "\x00\x01"})
        assert only_control.status_code == 400 and only_control.json()["error"]["param"] == "input"


@pytest.mark.parametrize(("fmt", "codec", "rate"), [("flac", "flac", 16000), ("ogg", "libopus", 48000)])
def test_a_truncated_upload_is_a_400_that_names_no_server_path(server: LiveServer, fmt: str, codec: str,
                                                              rate: int) -> None:
    data = encoded(fmt, codec, rate)
    broken = data[:300] + b"\x00" * 10 + data[600:900]  # FFmpeg's message for this names the temp file
    with server.http() as http:
        response = http.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                             files={"file": (f"clip.{fmt}", broken)})
    assert response.status_code == 400, response.text[:300]
    message = response.json()["error"]["message"]
    assert "/" not in message and "upload-" not in message, message


@pytest.mark.parametrize(("case", "body", "code"), [
    ("a WAV declaring 1 Hz", wav(1, 3600), "invalid_audio"),
    ("a WAV declaring 2^30 Hz", wav(1 << 30, 20_000), "invalid_audio"),
    ("a WAV declaring 16 channels", wav(16_000, 32_000, channels=16), "invalid_audio"),
    ("8 kHz audio longer than the limit", wav(8_000, 8_000 * 20), "audio_too_long"),
])
def test_audio_bombs_are_refused_before_they_decode(limited_server: LiveServer, case: str, body: bytes,
                                                    code: str) -> None:
    with limited_server.http() as http:
        started = time.perf_counter()
        response = http.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                             files={"file": ("bomb.wav", body)})
        elapsed = time.perf_counter() - started
        assert response.status_code == 400, (case, response.text[:300])
        assert response.json()["error"]["code"] == code and response.json()["error"]["param"] == "file"
        assert elapsed < 5, f"{case}: {elapsed:.1f} s"
        assert http.get("/healthz").status_code == 200


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server whose decoded-duration limit is 15 s (VOXGATE_MAX_AUDIO_SECONDS)."""
    from tests.conftest import start_server, stop_server

    live = start_server(tmp_path_factory.mktemp("limited"), {"VOXGATE_MAX_AUDIO_SECONDS": "15"})
    try:
        yield live
    finally:
        stop_server(live)
