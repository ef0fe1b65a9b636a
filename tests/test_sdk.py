"""The voxgate SDK against a live server: every audio call, every error type, safe retries."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, free_port
from tests.helpers import decode, librivox_clips, wer
from voxgate import AsyncClient, Client
from voxgate.sdk import errors
from voxgate.sdk.types import (
    Model,
    Text,
    Transcription,
    TranscriptionDiarized,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    Translation,
)

CLIP, REFERENCE = librivox_clips()[1]  # ~3 s: "he was not an ill disposed young man"


@pytest.fixture(scope="module")
def sdk(server: LiveServer) -> Client:
    return Client(api_key=server.key, base_url=server.base_url, max_retries=0)


def new_key(server: LiveServer, **policy: Any) -> str:
    """A fresh API key (admin API), so usage and limits are this test's alone."""
    with server.http() as http:
        response = http.post("/v1/admin/keys", json={"name": "sdk-test", **policy})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def usage_requests(server: LiveServer, key: str) -> int:
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}) as http:
        body = http.get("/v1/usage").json()
    return int(body["total"]["requests"])


# ---- audio calls ---------------------------------------------------------------------------------------

def test_speech_create_returns_audio(sdk: Client) -> None:
    audio = sdk.audio.speech.create(model="tts-1", voice="alloy", input="Hello from the SDK.", response_format="wav")
    decoded = decode(audio.content)
    assert decoded.duration > 0.5 and audio.request_id and audio.request_id.startswith("req_")


def test_speech_streaming_response(sdk: Client, tmp_path: Path) -> None:
    with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="nova", input="One. Two. Three.",
                                                         response_format="mp3") as response:
        assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
        chunks = list(response.iter_bytes())
    assert len(chunks) >= 1 and decode(b"".join(chunks)).codec.startswith("mp3")
    target = tmp_path / "speech.opus"
    with sdk.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="Streamed to a file.",
                                                         response_format="opus") as response:
        response.stream_to_file(target)
    assert decode(target.read_bytes()).duration > 0.5


def test_transcription_json_and_verbose(sdk: Client) -> None:
    result = sdk.audio.transcriptions.create(model="whisper-1", file=CLIP)
    assert isinstance(result, Transcription) and wer(REFERENCE, result.text) < 0.2
    assert result.usage is not None and result.usage.type == "duration" and result.request_id
    verbose = sdk.audio.transcriptions.create(model="whisper-1", file=CLIP.read_bytes(), response_format="verbose_json",
                                              timestamp_granularities=["word", "segment"])
    assert isinstance(verbose, TranscriptionVerbose) and verbose.language == "english"
    assert verbose.segments and verbose.words and verbose.words[0].end > verbose.words[0].start
    assert 2.5 < verbose.duration < 3.5


def test_transcription_languages_and_keywords(sdk: Client) -> None:
    """`languages` narrows detection and comes back as codes; `keywords` reach the prompt, and one the
    server refuses comes back as a typed 400 naming the field."""
    result = sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, languages=["de", "en"],
                                             keywords=["Dashwood", "Norland"])
    assert isinstance(result, Transcription) and result.languages == [{"code": "en"}]
    assert wer(REFERENCE, result.text) < 0.2
    verbose = sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, languages=["en"],
                                              response_format="verbose_json")
    assert verbose.language == "english" and verbose.languages == [{"code": "en"}]
    with pytest.raises(errors.ValidationError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, keywords=["<b>bold</b>"])
    assert caught.value.param == "keywords"
    with pytest.raises(errors.ValidationError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, language="en", languages=["en"])
    assert caught.value.param in ("language", "languages")


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_transcription_text_formats(sdk: Client, fmt: str) -> None:
    with CLIP.open("rb") as handle:
        result = sdk.audio.transcriptions.create(model="whisper-1", file=handle, response_format=fmt)
    assert isinstance(result, str) and isinstance(result, Text) and result.request_id
    assert {"text": "ill", "srt": "-->", "vtt": "WEBVTT"}[fmt] in result


def test_transcription_diarized(sdk: Client) -> None:
    result = sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, response_format="diarized_json",
                                             diarize=True)
    assert isinstance(result, TranscriptionDiarized) and result.segments
    assert all(s.speaker and s.type == "transcript.text.segment" for s in result.segments)


def test_transcription_stream(sdk: Client) -> None:
    stream = sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, stream=True)
    events = list(stream)
    assert isinstance(events[-1], TranscriptionTextDoneEvent) and wer(REFERENCE, events[-1].text) < 0.2
    assert any(isinstance(e, TranscriptionTextDeltaEvent) for e in events[:-1]) and stream.request_id


def test_translation(sdk: Client) -> None:
    result = sdk.audio.translations.create(model="whisper-1", file=CLIP)
    assert isinstance(result, Translation) and "man" in result.text.lower()


def test_models(sdk: Client) -> None:
    models = sdk.models.list()
    ids = [m.id for m in models]
    assert "whisper-1" in ids and all(isinstance(m, Model) for m in models) and models.request_id
    assert sdk.models.retrieve("whisper-1").id == "whisper-1"


def test_pipeline_client(server: LiveServer) -> None:
    client = Client(api_key=server.key, base_url=server.root, pipeline_id="whisper-1")  # root URL: /v1 is added
    assert wer(REFERENCE, client.audio.transcriptions.create(file=CLIP).text) < 0.2
    with pytest.raises(errors.PipelineMismatchError):
        client.audio.transcriptions.create(file=CLIP, model="whisper-base")


# ---- errors --------------------------------------------------------------------------------------------

def _check(err: errors.VoxgateError, status: int, code: str) -> None:
    assert (err.status, err.code) == (status, code), str(err)
    assert err.type and err.request_id and err.request_id.startswith("req_")


def test_authentication_errors(server: LiveServer) -> None:
    bad = Client(api_key="vg_live_not_a_key", base_url=server.base_url)
    with pytest.raises(errors.AuthenticationError) as caught:
        bad.models.list()
    _check(caught.value, 401, "invalid_api_key")
    anonymous = Client(api_key="unused", base_url=server.base_url, default_headers={"Authorization": ""})
    with pytest.raises(errors.AuthenticationError) as caught:
        anonymous.models.list()
    _check(caught.value, 401, "missing_api_key")


def test_not_found_and_validation_errors(sdk: Client) -> None:
    with pytest.raises(errors.NotFoundError) as caught:
        sdk.audio.speech.create(model="no-such-model", voice="alloy", input="hi")
    _check(caught.value, 404, "model_not_found")
    with pytest.raises(errors.ValidationError) as bad_format:
        sdk.audio.transcriptions.create(model="whisper-1", file=CLIP, response_format="docx")
    assert bad_format.value.status == 400 and bad_format.value.param == "response_format"
    with pytest.raises(errors.NotFoundError) as missing_job:
        sdk.jobs.retrieve("job_missing")
    _check(missing_job.value, 404, "job_not_found")


def test_payload_too_large(sdk: Client) -> None:
    with pytest.raises(errors.PayloadTooLargeError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=b"\0" * (26 * 1024 * 1024))
    _check(caught.value, 413, "file_too_large")


def test_permission_error_for_a_pipeline_key(server: LiveServer) -> None:
    client = Client(api_key=new_key(server, pipeline="whisper-base"), base_url=server.base_url, max_retries=0)
    with pytest.raises(errors.PermissionError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="not my pipeline")
    _check(caught.value, 403, "forbidden")


def test_insufficient_credits(server: LiveServer) -> None:
    client = Client(api_key=new_key(server, credits=0), base_url=server.base_url, max_retries=0)
    with pytest.raises(errors.InsufficientCreditsError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=CLIP)
    _check(caught.value, 402, "insufficient_credits")


def test_rate_limit_error_and_retry_after(server: LiveServer) -> None:
    key = new_key(server, rpm=60)  # one request per second once the bucket is empty
    strict = Client(api_key=key, base_url=server.base_url, max_retries=0)
    with pytest.raises(errors.RateLimitError) as caught:
        for _ in range(120):
            strict.models.list()
    _check(caught.value, 429, "rate_limited")
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 2
    patient = Client(api_key=key, base_url=server.base_url, max_retries=3)
    assert patient.models.list().data  # waits out Retry-After instead of failing


def test_idempotency_key_reused_for_another_request(sdk: Client) -> None:
    sdk.audio.speech.create(model="tts-1", voice="alloy", input="first", idempotency_key="sdk-reuse-1")
    with pytest.raises(errors.IdempotencyConflictError) as caught:
        sdk.audio.speech.create(model="tts-1", voice="alloy", input="second", idempotency_key="sdk-reuse-1")
    _check(caught.value, 422, "idempotency_key_reused")


def test_connection_error() -> None:
    client = Client(api_key="k", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(errors.ConnectionError) as caught:
        client.models.list()
    assert caught.value.status is None and caught.value.type == "connection_error"


# ---- a retried upload is charged once -------------------------------------------------------------------

class DroppingProxy:
    """A loopback TCP proxy that forwards requests but swallows the first `drop` responses whole (it
    reads them from the server, then closes the client's connection): the server did the work and the
    client never heard back, the case only an idempotent retry handles safely."""

    def __init__(self, upstream_port: int, drop: int = 1) -> None:
        self.upstream_port = upstream_port
        self.drop = drop
        self.requests: list[bytearray] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with self.lock:
            dropping = self.drop > 0
            self.drop -= 1
        captured = bytearray()
        with self.lock:
            self.requests.append(captured)  # filled in as the request arrives

        def pump_up() -> None:
            try:
                while data := client.recv(65536):
                    captured.extend(data)
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=pump_up, daemon=True).start()
        try:
            if dropping:
                self._read_response(upstream)  # the server answered; the client never sees it
            else:
                while data := upstream.recv(65536):
                    client.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):  # shutdown first: it wakes the pump blocked in recv and sends FIN
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    @staticmethod
    def _read_response(sock: socket.socket) -> bytes:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, body = buf.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(body) < length:
            body += sock.recv(65536)
        return head + body

    def close(self) -> None:
        self.listener.close()


def _header(raw: bytes | bytearray, name: bytes) -> bytes | None:
    head = bytes(raw).split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def test_dropped_response_is_retried_and_charged_once(server: LiveServer) -> None:
    key = new_key(server)
    proxy = DroppingProxy(int(server.root.rsplit(":", 1)[1]), drop=1)
    try:
        client = Client(api_key=key, base_url=f"http://127.0.0.1:{proxy.port}/v1", max_retries=2)
        result = client.audio.transcriptions.create(model="whisper-1", file=CLIP)
    finally:
        proxy.close()
    assert wer(REFERENCE, result.text) < 0.2
    keys = {_header(r, b"idempotency-key") for r in proxy.requests if r.startswith(b"POST")}
    assert len([r for r in proxy.requests if r.startswith(b"POST")]) == 2 and len(keys) == 1 and None not in keys
    assert usage_requests(server, key) == 1  # the retry was replayed, not run and charged again


# ---- the async client ----------------------------------------------------------------------------------

def test_async_client(server: LiveServer) -> None:
    async def main() -> None:
        async with AsyncClient(api_key=server.key, base_url=server.base_url, max_retries=0) as client:
            speech = await client.audio.speech.create(model="tts-1", voice="alloy", input="Async hello.",
                                                      response_format="wav")
            assert decode(speech.content).duration > 0.3
            async with client.audio.speech.with_streaming_response.create(
                    model="tts-1", voice="alloy", input="Async stream.", response_format="mp3") as response:
                data = b"".join([chunk async for chunk in response.iter_bytes()])
            assert decode(data).codec.startswith("mp3")
            text = await client.audio.transcriptions.create(model="whisper-1", file=CLIP, response_format="text")
            assert wer(REFERENCE, text) < 0.2
            stream = await client.audio.transcriptions.create(model="whisper-1", file=CLIP, stream=True)
            events = [event async for event in stream]
            assert isinstance(events[-1], TranscriptionTextDoneEvent)
            translation = await client.audio.translations.create(model="whisper-1", file=CLIP)
            assert translation.text
            assert "whisper-1" in [m.id for m in await client.models.list()]
            with pytest.raises(errors.NotFoundError) as caught:
                await client.models.retrieve("no-such-model")
            _check(caught.value, 404, "model_not_found")

    asyncio.run(main())
