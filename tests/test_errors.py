"""Bad input gets the error envelope with the right status; request ids on every response."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import librivox_clips

CLIP = librivox_clips()[1][0]


def _error(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and err["message"]
    assert r.headers["x-request-id"].startswith("req_")
    return err  # type: ignore[no-any-return]


@pytest.mark.parametrize("payload,code", [
    (b"", "invalid_audio"),
    (b"this is plain text, not audio at all" * 10, "invalid_audio"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 30, "invalid_audio"),
])
def test_bad_audio_is_400(server: LiveServer, payload: bytes, code: str) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("x.wav", payload)})
    err = _error(r, 400)
    assert err["code"] == code and err["param"] == "file"


def test_truncated_mp3_is_400_or_partial(server: LiveServer, client: openai.OpenAI) -> None:
    mp3 = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.", response_format="mp3").content
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("x.mp3", mp3[:200])})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        _error(r, 400)


def test_missing_file_and_model(server: LiveServer) -> None:
    with server.http() as http:
        assert _error(http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}), 400)["param"] in ("file",)
        assert _error(http.post("/v1/audio/transcriptions", files={"file": ("a.wav", CLIP.read_bytes())}),
                      400)["param"] == "model"


@pytest.mark.parametrize("field,value", [
    ("response_format", "xml"), ("temperature", "2"), ("temperature", "hot"), ("language", "klingon"),
    ("timestamp_granularities[]", "phoneme"), ("stream", "maybe"),
])
def test_bad_fields_are_400(server: LiveServer, field: str, value: str) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-1", field: value},
                      files={"file": ("a.wav", CLIP.read_bytes())})
    assert _error(r, 400)["param"] == field.removesuffix("[]")


def test_unknown_model_404(server: LiveServer) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-huge"},
                      files={"file": ("a.wav", CLIP.read_bytes())})
    assert _error(r, 404)["code"] == "model_not_found"


def test_tts_model_for_transcription_400(server: LiveServer) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "tts-1"}, files={"file": ("a.wav", CLIP.read_bytes())})
    assert _error(r, 400)["param"] == "model"


def test_upload_too_large_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.conftest import start_server, stop_server

    live = start_server(tmp_path_factory.mktemp("small-limit"), {"VOXGATE_MAX_UPLOAD_BYTES": "100000"})
    try:
        with live.http() as http:
            big = b"\x00" * 200_000
            err = _error(http.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                                   files={"file": ("a.wav", big)}), 413)
            assert err["code"] == "file_too_large"
            err = _error(http.post("/v1/audio/transcriptions",
                                   json={"model": "whisper-1", "file_base64": "AAAA" * 40_000}), 413)
        with pytest.raises(openai.APIStatusError) as info:
            live.client().audio.transcriptions.create(model="whisper-1", file=big)
        assert info.value.status_code == 413
    finally:
        stop_server(live)


def test_bad_base64_and_content_type(server: LiveServer) -> None:
    with server.http() as http:
        assert _error(http.post("/v1/audio/transcriptions", json={"model": "whisper-1", "file_base64": "%%%"}),
                      400)["param"] == "file_base64"
        assert _error(http.post("/v1/audio/transcriptions", json=["x"]), 400)
        assert _error(http.post("/v1/audio/transcriptions", content=b"abc", headers={"content-type": "text/plain"}),
                      415)


def test_request_ids_and_client_id_echo(server: LiveServer) -> None:
    with server.http() as http:
        r = http.get("/v1/models", headers={"X-Client-Request-Id": "my-trace-42"})
        assert r.headers["x-request-id"].startswith("req_") and r.headers["x-client-request-id"] == "my-trace-42"
        other = http.get("/v1/models")
        assert other.headers["x-request-id"] != r.headers["x-request-id"]
        assert http.get("/nowhere").headers["x-request-id"]
        _error(http.get("/nowhere"), 404)


def test_stainless_headers_ignored(server: LiveServer, client: openai.OpenAI) -> None:
    with server.http() as http:
        r = http.get("/v1/models", headers={"X-Stainless-Raw-Response": "true", "x-stainless-lang": "python"})
        assert r.status_code == 200
