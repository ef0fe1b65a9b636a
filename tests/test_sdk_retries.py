"""The SDK's retry policy, error mapping and request shaping, against an in-process mock transport
(no server): what is retried, with which key, after how long, and what is raised."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

import voxgate.sdk._async_client as async_client_module
import voxgate.sdk._client as client_module
from voxgate import AsyncClient, Client
from voxgate.sdk import errors
from voxgate.sdk.types import Text, Transcription, TranscriptionVerbose

AUDIO = b"RIFF....WAVEfake"


def _error(status: int, code: str | None, message: str = "nope", param: str | None = None,
           headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"message": message, "type": "some_type", "param": param, "code": code}}
    return httpx.Response(status, json=body, headers={"x-request-id": f"req_{status}", **(headers or {})})


class Recorder:
    """A scripted server: answers in order, remembers every request."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", recorded.append)

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(async_client_module.anyio, "sleep", fake_sleep)
    return recorded


def make_client(recorder: Recorder, **kwargs: object) -> Client:
    return Client(api_key="vg_test", base_url="http://voxgate.test/v1",
                  http_client=httpx.Client(transport=httpx.MockTransport(recorder)), **kwargs)  # type: ignore[arg-type]


def ok_json(body: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"x-request-id": "req_ok"})


def test_transient_failures_are_retried_with_one_idempotency_key(sleeps: list[float]) -> None:
    recorder = Recorder(_error(503, "overloaded"), httpx.ConnectError("refused"), ok_json({"text": "hi"}))
    result = make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO)
    assert isinstance(result, Transcription) and result.text == "hi" and result.request_id == "req_ok"
    keys = {r.headers.get("idempotency-key") for r in recorder.requests}
    assert len(recorder.requests) == 3 and len(keys) == 1 and None not in keys
    assert len(sleeps) == 2 and 0 < sleeps[0] < sleeps[1]


def test_every_call_gets_its_own_idempotency_key_unless_given() -> None:
    recorder = Recorder(ok_json({"text": "hi"}))
    client = make_client(recorder)
    client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
    client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
    client.audio.transcriptions.create(model="whisper-1", file=AUDIO, idempotency_key="mine-1")
    keys = [r.headers["idempotency-key"] for r in recorder.requests]
    assert keys[0] != keys[1] and keys[2] == "mine-1"


def test_retry_after_ms_and_retry_after_are_honoured(sleeps: list[float]) -> None:
    recorder = Recorder(_error(429, "rate_limited", headers={"retry-after-ms": "250", "retry-after": "1"}),
                        _error(429, "rate_limited", headers={"retry-after": "2"}), ok_json({"text": "ok"}))
    make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO)
    assert sleeps == [0.25, 2.0]


def test_a_retry_after_beyond_the_cap_raises_at_once(sleeps: list[float]) -> None:
    recorder = Recorder(_error(429, "rate_limited", headers={"retry-after": "3600"}))
    with pytest.raises(errors.RateLimitError) as caught:
        make_client(recorder).models.list()
    assert caught.value.retry_after == 3600 and caught.value.status == 429 and caught.value.code == "rate_limited"
    assert len(recorder.requests) == 1 and sleeps == []


def test_retries_give_up_after_max_retries(sleeps: list[float]) -> None:
    recorder = Recorder(_error(500, "internal_error"))
    with pytest.raises(errors.ServerError) as caught:
        make_client(recorder, max_retries=3).audio.transcriptions.create(model="whisper-1", file=AUDIO)
    assert len(recorder.requests) == 4 and len(sleeps) == 3
    assert caught.value.request_id == "req_500"


def test_client_errors_are_not_retried(sleeps: list[float]) -> None:
    recorder = Recorder(_error(400, "invalid_value", "bad format", param="response_format"))
    with pytest.raises(errors.ValidationError) as caught:
        make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO)
    err = caught.value
    assert (err.status, err.type, err.code, err.param, err.request_id) == (
        400, "some_type", "invalid_value", "response_format", "req_400")
    assert len(recorder.requests) == 1 and sleeps == []


def test_idempotency_in_progress_is_retried_but_reuse_is_not(sleeps: list[float]) -> None:
    in_progress = _error(409, "idempotency_in_progress", headers={"retry-after-ms": "10"})
    recorder = Recorder(in_progress, ok_json({"text": "replayed"}))
    assert make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO).text == "replayed"
    assert sleeps == [0.01]
    reused = Recorder(_error(422, "idempotency_key_reused"))
    with pytest.raises(errors.IdempotencyConflictError) as caught:
        make_client(reused).audio.transcriptions.create(model="whisper-1", file=AUDIO)
    assert caught.value.status == 422 and len(reused.requests) == 1


def test_x_should_retry_overrides_the_status_rule(sleeps: list[float]) -> None:
    recorder = Recorder(_error(500, "internal_error", headers={"x-should-retry": "false"}))
    with pytest.raises(errors.ServerError):
        make_client(recorder).models.list()
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status, code, cls", [
    (400, "invalid_value", errors.ValidationError),
    (401, "invalid_api_key", errors.AuthenticationError),
    (402, "insufficient_credits", errors.InsufficientCreditsError),
    (403, "forbidden", errors.PermissionError),
    (404, "model_not_found", errors.NotFoundError),
    (409, "idempotency_in_progress", errors.IdempotencyConflictError),
    (413, "file_too_large", errors.PayloadTooLargeError),
    (415, "unsupported_media_type", errors.ValidationError),
    (422, "idempotency_key_reused", errors.IdempotencyConflictError),
    (429, "rate_limited", errors.RateLimitError),
    (502, None, errors.ServerError),
])
def test_error_mapping(status: int, code: str | None, cls: type[errors.APIStatusError]) -> None:
    err = errors.error_from_response(_error(status, code))
    assert type(err) is cls and isinstance(err, errors.VoxgateError)
    assert err.status == status and err.code == code and err.request_id == f"req_{status}"


def test_connection_errors_surface_as_typed_errors(sleeps: list[float]) -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(errors.ConnectionError) as caught:
        make_client(recorder).models.list()
    assert caught.value.status is None and len(recorder.requests) == 3
    timeouts = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(errors.TimeoutError):
        make_client(timeouts, max_retries=0).models.list()


def test_a_stream_is_never_retried_once_bytes_arrived(sleeps: list[float]) -> None:
    def broken_body() -> Iterator[bytes]:
        yield b'data: {"type":"transcript.text.delta","delta":"Hel"}\n\n'
        raise httpx.ReadError("connection reset")

    recorder = Recorder(lambda _: httpx.Response(200, headers={"content-type": "text/event-stream"},
                                                 content=broken_body()))
    stream = make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO, stream=True)
    events = []
    with pytest.raises(errors.ConnectionError):
        for event in stream:
            events.append(event)
    assert [e.delta for e in events] == ["Hel"]  # type: ignore[union-attr]
    assert len(recorder.requests) == 1 and sleeps == []


def test_sse_events_and_in_band_errors() -> None:
    body = (b'data: {"type":"transcript.text.delta","delta":"Hi"}\n\n'
            b'data: {"type":"transcript.text.done","text":"Hi","usage":{"type":"duration","seconds":2}}\n\n'
            b"data: [DONE]\n\n")
    recorder = Recorder(httpx.Response(200, content=body, headers={"x-request-id": "req_s"}))
    stream = make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO, stream=True)
    events = list(stream)
    assert [e.type for e in events] == ["transcript.text.delta", "transcript.text.done"]  # type: ignore[union-attr]
    assert events[1].usage.seconds == 2 and stream.request_id == "req_s"  # type: ignore[union-attr]
    failing = Recorder(httpx.Response(200, content=b'data: {"error":{"message":"boom","code":"internal_error"}}\n\n'))
    with pytest.raises(errors.StreamError) as caught:
        list(make_client(failing).audio.transcriptions.create(model="whisper-1", file=AUDIO, stream=True))
    assert caught.value.code == "internal_error"


def _form(request: httpx.Request) -> list[tuple[str, str]]:
    """The non-file parts of a multipart body."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    parts = []
    for chunk in request.content.split(b"--" + boundary):
        head, _, value = chunk.partition(b"\r\n\r\n")
        if b'name="' not in head or b"filename=" in head:
            continue
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        parts.append((name, value.rstrip(b"\r\n").decode()))
    return parts


def test_voxgate_extras_are_sent_as_form_fields() -> None:
    recorder = Recorder(ok_json({"task": "transcribe", "language": "english", "duration": 1.0, "text": "x",
                                 "segments": []}))
    result = make_client(recorder).audio.transcriptions.create(
        model="whisper-1", file=("call.wav", AUDIO, "audio/wav"), response_format="verbose_json",
        timestamp_granularities=["word", "segment"], diarize=True, redact=["email", "phone"],
        known_speaker_names=["agent"], known_speaker_references=[b"RIFFclip"],
        chunking_strategy={"type": "server_vad", "threshold": 0.4})
    assert isinstance(result, TranscriptionVerbose) and result.language == "english"
    form = _form(recorder.requests[0])
    assert ("model", "whisper-1") in form and ("diarize", "true") in form and ("redact", "email,phone") in form
    assert [v for k, v in form if k == "timestamp_granularities[]"] == ["word", "segment"]
    assert ("known_speaker_names[]", "agent") in form
    assert any(k == "known_speaker_references[]" and v.startswith("data:audio/wav;base64,") for k, v in form)
    assert ("chunking_strategy[type]", "server_vad") in form and ("chunking_strategy[threshold]", "0.4") in form
    assert b'filename="call.wav"' in recorder.requests[0].content


def test_text_formats_return_str_with_request_id() -> None:
    recorder = Recorder(httpx.Response(200, text="1\n00:00:00,000 --> 00:00:01,000\nHi\n",
                                       headers={"x-request-id": "req_t", "content-type": "text/plain"}))
    srt = make_client(recorder).audio.transcriptions.create(model="whisper-1", file=AUDIO, response_format="srt")
    assert isinstance(srt, str) and isinstance(srt, Text) and srt.startswith("1\n") and srt.request_id == "req_t"


def test_pipeline_id_pins_the_model() -> None:
    recorder = Recorder(ok_json({"text": "ok"}))
    client = make_client(recorder, pipeline_id="whisper-1")
    client.audio.transcriptions.create(file=AUDIO)
    client.audio.transcriptions.create(file=AUDIO, model="whisper-1")
    assert all(("model", "whisper-1") in _form(r) for r in recorder.requests)
    with pytest.raises(errors.PipelineMismatchError):
        client.audio.transcriptions.create(file=AUDIO, model="whisper-large")
    with pytest.raises(ValueError):
        client.audio.speech.create(input="hi", voice="alloy", model="tts-1")
    assert len(recorder.requests) == 2


def test_a_file_upload_is_resent_whole_on_retry(tmp_path: object, sleeps: list[float]) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "clip.wav"
    path.write_bytes(AUDIO * 100)
    recorder = Recorder(_error(502, None), ok_json({"text": "ok"}))
    with path.open("rb") as handle:
        handle.read(5)  # a caller's handle positioned mid-file: the upload starts where it was
        make_client(recorder).audio.transcriptions.create(model="whisper-1", file=handle)
        assert not handle.closed
    bodies = [r.content for r in recorder.requests]
    assert bodies[0].count((AUDIO * 100)[5:]) == 1 and bodies[0] == bodies[1].replace(
        recorder.requests[1].headers["content-type"].split("boundary=")[1].encode(),
        recorder.requests[0].headers["content-type"].split("boundary=")[1].encode())


def test_async_client_retries_and_maps_errors(sleeps: list[float]) -> None:
    recorder = Recorder(_error(503, None), ok_json({"text": "async"}), _error(404, "model_not_found"))

    async def main() -> None:
        async with AsyncClient(api_key="vg_test", base_url="http://voxgate.test",
                               http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder))) as client:
            result = await client.audio.transcriptions.create(model="whisper-1", file=AUDIO)
            assert result.text == "async"
            with pytest.raises(errors.NotFoundError):
                await client.models.retrieve("nope/model")

    asyncio.run(main())
    assert str(recorder.requests[0].url) == "http://voxgate.test/v1/audio/transcriptions"
    assert recorder.requests[0].headers["idempotency-key"] == recorder.requests[1].headers["idempotency-key"]
    assert recorder.requests[2].url.raw_path == b"/v1/models/nope%2Fmodel"
    assert len(sleeps) == 1


def test_speech_sends_json_with_reference_audio() -> None:
    recorder = Recorder(httpx.Response(200, content=b"ID3audio", headers={"content-type": "audio/mpeg",
                                                                          "x-request-id": "req_a"}))
    audio = make_client(recorder).audio.speech.create(model="tts-1", voice="alloy", input="Hello",
                                                      reference_audio=("me.wav", b"RIFF"), speed=1.2)
    assert audio.content == b"ID3audio" and audio.request_id == "req_a"
    body = json.loads(recorder.requests[0].content)
    assert body["reference_audio"].startswith("data:audio/") and body["speed"] == 1.2 and body["voice"] == "alloy"
    assert recorder.requests[0].headers["idempotency-key"]


def test_missing_api_key_is_refused_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOXGATE_API_KEY", raising=False)
    with pytest.raises(errors.VoxgateError):
        Client()
