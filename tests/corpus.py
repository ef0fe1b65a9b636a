"""The bad-input corpus (issue 11): requests a careless or hostile client sends, each with the answers it may
get. `tests/test_corpus.py` runs every case against a live server and checks status, envelope, latency and
health after it; `bench/bench_soak.py` mixes the same cases into its load.

A case lists every status it may get: a truncated file may still hold a decodable head (200) or not (400).
None may get a 5xx, hang, or answer outside the error envelope."""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import av
import numpy as np

from tests.helpers import librivox_clips

UPLOAD_LIMIT = 1_500_000  # VOXGATE_MAX_UPLOAD_BYTES of the corpus server
AUDIO_LIMIT_S = 15  # VOXGATE_MAX_AUDIO_SECONDS of the corpus server
ENV = {"VOXGATE_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT), "VOXGATE_MAX_AUDIO_SECONDS": str(AUDIO_LIMIT_S),
       "VOXGATE_HEADER_TIMEOUT_S": "2", "VOXGATE_BODY_IDLE_TIMEOUT_S": "2", "VOXGATE_LINGER_S": "1"}

TRANSCRIBE = "/v1/audio/transcriptions"
SPEECH = "/v1/audio/speech"
OK = (200,)
BAD = (400,)
MAYBE = (200, 400)  # what decodes is transcribed, what does not is a 400


@dataclass(frozen=True)
class Case:
    """One request: httpx arguments made on demand (some build audio), the statuses it may get, and the
    error code when it is refused. `key` is "user" (a credit-limited key), "admin", "none", or a literal."""

    name: str
    method: str
    path: str
    make: Callable[[], dict[str, Any]] = field(default=lambda: {})
    expect: tuple[int, ...] = BAD
    code: str | None = None
    key: str = "user"
    max_s: float = 20.0  # the answer is whole within this (a short clip transcribed on a busy two-core machine)


@dataclass(frozen=True)
class RawCase:
    """Bytes written to a socket as they are (what an HTTP client library would never send), and the status
    of the answer, or None when the server must just close the connection within `closed_within_s`."""

    name: str
    chunks: tuple[bytes, ...]
    expect: int | None
    pause_s: float = 0.0  # between chunks
    closed_within_s: float = 5.0


# ---- audio ------------------------------------------------------------------------------------------------


@cache
def clip() -> bytes:
    return librivox_clips()[1][0].read_bytes()


@cache
def encoded(fmt: str, codec: str, rate: int) -> bytes:
    """The corpus clip re-encoded into `fmt` with `codec` at `rate` Hz."""
    from tests.helpers import decode

    return encode_array(decode(clip()).samples, fmt, codec, out_rate=rate)


def encode_array(samples: np.ndarray, fmt: str, codec: str, rate: int = 16000, out_rate: int = 48000) -> bytes:
    """Mono float32 `samples` at `rate`, encoded into `fmt` with `codec`."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=out_rate)  # type: ignore[call-overload]
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@cache
def silence(fmt: str, codec: str, seconds: float) -> bytes:
    """`seconds` of silence encoded small: a long decode from a short upload."""
    return encode_array(np.zeros(int(seconds * 16000), dtype=np.float32), fmt, codec)


def wav(rate: int, data_bytes: int, channels: int = 1, declared_size: int | None = None) -> bytes:
    """An 8-bit PCM WAV whose header says `rate` Hz (a few KB at 1 Hz claim hours)."""
    data = b"\x80" * data_bytes
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels, channels, 8)
    size = len(data) if declared_size is None else declared_size
    return (b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + data)


CONTAINERS = {  # name: (format, codec, rate)
    "wav": ("wav", "pcm_s16le", 16000), "flac": ("flac", "flac", 16000), "mp3": ("mp3", "libmp3lame", 16000),
    "ogg-opus": ("ogg", "libopus", 48000), "adts-aac": ("adts", "aac", 16000),
    "webm": ("webm", "libopus", 48000), "m4a": ("ipod", "aac", 16000),
}


def _container(name: str, damage: Callable[[bytes], bytes]) -> Callable[[], dict[str, Any]]:
    """An upload of the clip in container `name`, damaged."""
    fmt, codec, rate = CONTAINERS[name]
    return lambda: {"data": {"model": "whisper-1"}, "files": {"file": (f"a.{fmt}", damage(encoded(fmt, codec, rate)))}}


def _multipart(body: bytes, name: str = "a.bin", **data: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"data": {"model": "whisper-1", **data}, "files": {"file": (name, body)}}


def _file(get: Callable[[], bytes], name: str = "a.bin", **data: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"data": {"model": "whisper-1", **data}, "files": {"file": (name, get())}}


def _json(body: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": body}


def _raw(content: bytes | str, content_type: str = "application/json",
         headers: dict[str, str] | None = None) -> Callable[[], dict[str, Any]]:
    return lambda: {"content": content, "headers": {"content-type": content_type, **(headers or {})}}


def _b64(**fields: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": {"model": "whisper-1", "file_base64": base64.b64encode(clip()).decode(), **fields}}


def _speech(**fields: Any) -> Callable[[], dict[str, Any]]:
    return lambda: {"json": {"model": "tts-1", "voice": "alloy", "input": "Hello there.", **fields}}


def _chunked(chunks: Callable[[], Iterator[bytes]], content_type: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"content": chunks(), "headers": {"content-type": content_type}}


def _big_multipart() -> Iterator[bytes]:
    yield (b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--b\r\n'
           b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n')
    for _ in range(40):
        yield b"\0" * 100_000
    yield b"\r\n--b--\r\n"


def _big_json() -> Iterator[bytes]:
    yield b'{"model": "whisper-1", "file_base64": "'
    for _ in range(40):
        yield b"A" * 100_000
    yield b'"}'


NESTED = "[" * 200_000 + "]" * 200_000


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # Containers: cut short, cut to their header, with a broken magic number.
    for name in CONTAINERS:
        add(Case(f"{name} truncated to 64 bytes", "POST", TRANSCRIBE, _container(name, lambda b: b[:64]), BAD,
                 "invalid_audio"))
        add(Case(f"{name} truncated to half", "POST", TRANSCRIBE, _container(name, lambda b: b[: len(b) // 2]),
                 MAYBE))
        add(Case(f"{name} with a broken magic number", "POST", TRANSCRIBE,
                 _container(name, lambda b: b"\x00" * 16 + b[16:]), MAYBE))
    # Not audio, or audio that lies.
    add(Case("an empty file", "POST", TRANSCRIBE, _multipart(b""), BAD, "invalid_audio"))
    add(Case("random bytes", "POST", TRANSCRIBE, _multipart(bytes(np.random.default_rng(1).integers(
        0, 256, 20_000, dtype=np.uint8))), BAD, "invalid_audio"))
    add(Case("a text file", "POST", TRANSCRIBE, _multipart(b"hello, this is not audio\n" * 100, "a.txt"), BAD,
             "invalid_audio"))
    add(Case("a PNG named .wav", "POST", TRANSCRIBE, _multipart(b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, "a.wav"), BAD,
             "invalid_audio"))
    add(Case("a zip file", "POST", TRANSCRIBE, _multipart(b"PK\x03\x04" + b"\0" * 4000, "a.zip"), BAD,
             "invalid_audio"))
    add(Case("a WAV declaring 1 Hz (an hour from 3.6 KB)", "POST", TRANSCRIBE, _multipart(wav(1, 3600)), BAD,
             "invalid_audio"))
    add(Case("a WAV declaring 2^30 Hz", "POST", TRANSCRIBE, _multipart(wav(1 << 30, 20_000)), BAD, "invalid_audio"))
    add(Case("a WAV declaring 16 channels", "POST", TRANSCRIBE, _multipart(wav(16_000, 32_000, 16)), BAD,
             "invalid_audio"))
    add(Case("a WAV whose data size says 4 GB", "POST", TRANSCRIBE,
             _multipart(wav(16_000, 16_000, declared_size=0xFFFFFFF0)), MAYBE))
    add(Case("8 kHz audio longer than the limit", "POST", TRANSCRIBE, _multipart(wav(8_000, 8_000 * 20)), BAD,
             "audio_too_long"))
    add(Case("silent opus decoding past the limit", "POST", TRANSCRIBE,
             _file(lambda: silence("ogg", "libopus", 40.0), "s.ogg"), BAD, "audio_too_long"))
    add(Case("the clip with a path-traversal filename", "POST", TRANSCRIBE,
             _file(clip, "../../../etc/passwd"), OK))
    # Upload size, by what arrives.
    add(Case("a file over the upload limit", "POST", TRANSCRIBE, _multipart(b"\0" * (UPLOAD_LIMIT + 10), "a.wav"),
             (413,)))
    add(Case("a chunked multipart upload over the limit", "POST", TRANSCRIBE,
             _chunked(_big_multipart, "multipart/form-data; boundary=b"), (413,), "body_too_large"))
    add(Case("a chunked JSON upload over the limit", "POST", TRANSCRIBE,
             _chunked(_big_json, "application/json"), (413,), "body_too_large"))
    add(Case("base64 that is not base64", "POST", TRANSCRIBE,
             _json({"model": "whisper-1", "file_base64": "not base64 at all!!"}), BAD))
    add(Case("base64 of random bytes", "POST", TRANSCRIBE,
             _json({"model": "whisper-1", "file_base64": base64.b64encode(b"\x01" * 3000).decode()}), BAD,
             "invalid_audio"))
    add(Case("a base64 upload as a number", "POST", TRANSCRIBE, _json({"model": "whisper-1", "file_base64": 5}),
             BAD))
    # Malformed multipart.
    add(Case("multipart without a boundary", "POST", TRANSCRIBE, _raw(b"--x\r\n\r\n", "multipart/form-data"), BAD))
    add(Case("multipart with the wrong boundary", "POST", TRANSCRIBE,
             _raw(b"--other\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--other--\r\n",
                  "multipart/form-data; boundary=mine"), BAD))
    add(Case("multipart without a file part", "POST", TRANSCRIBE, lambda: {"data": {"model": "whisper-1"},
                                                                          "files": {"other": ("a", b"x")}},
             BAD, "missing_file"))
    add(Case("multipart cut off mid-part", "POST", TRANSCRIBE,
             _raw(b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nRIFF',
                  "multipart/form-data; boundary=b"), BAD))
    add(Case("multipart with 300 fields", "POST", TRANSCRIBE,
             lambda: {"data": {f"f{i}": "x" for i in range(300)}, "files": {"file": ("a.wav", clip())}}, BAD))
    add(Case("a 1.2 MB text field", "POST", TRANSCRIBE,
             lambda: {"data": {"model": "whisper-1", "prompt": "x" * 1_200_000}, "files": {"file": ("a", b"x")}},
             (400, 413)))
    add(Case("a part without a name", "POST", TRANSCRIBE,
             _raw(b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b"),
             BAD))
    add(Case("urlencoded, without a file", "POST", TRANSCRIBE,
             _raw("model=whisper-1", "application/x-www-form-urlencoded"), BAD, "missing_file"))
    add(Case("an unsupported content type", "POST", TRANSCRIBE, _raw(b"hello", "text/plain"), (415,),
             "unsupported_media_type"))
    # Fields of the wrong type or value (transcriptions).
    for name, fields in {
        "temperature as a word": {"temperature": "hot"}, "temperature above 1": {"temperature": "5"},
        "response_format xml": {"response_format": "xml"}, "an empty model": {"model": ""},
        "language klingon": {"language": "klingon"},
        "timestamp_granularities foo": {"timestamp_granularities[]": "foo", "response_format": "verbose_json"},
        "stream maybe": {"stream": "maybe"}, "chunking_strategy weird": {"chunking_strategy": "weird"},
        "chunking_strategy nested": {"chunking_strategy": NESTED}, "include foo": {"include[]": "foo"},
        "async maybe": {"async": "maybe"}, "async and stream": {"async": "true", "stream": "true"},
        "a webhook_url over ftp": {"async": "true", "webhook_url": "ftp://example.com/x"},
        "a loopback webhook_url": {"async": "true", "webhook_url": "http://127.0.0.1:9/x"},
        "a decimal loopback webhook_url": {"async": "true", "webhook_url": "http://2130706433/"},
        "a metadata-service webhook_url": {"async": "true", "webhook_url": "http://169.254.169.254/latest"},
        "an IPv6-mapped loopback webhook_url": {"async": "true", "webhook_url": "http://[::ffff:127.0.0.1]/"},
        "temperature[] as a list": {"temperature[]": "0.1"},
    }.items():
        add(Case(name, "POST", TRANSCRIBE, _file(clip, "a.wav", **fields), BAD))
    for name, model in {"an unknown model": "nope", "a 5000-character model": "m" * 5000,
                        "a path as the model": "../../etc/passwd"}.items():
        add(Case(name, "POST", TRANSCRIBE, _file(clip, "a.wav", model=model), (404,), "model_not_found"))
    add(Case("a prompt with a lone surrogate", "POST", TRANSCRIBE,
             lambda: {"content": '{"model": "whisper-1", "prompt": "a \\ud800 b", "file_base64": "'
                      + base64.b64encode(clip()).decode() + '"}', "headers": {"content-type": "application/json"}},
             MAYBE))
    for name, fields in {
        "JSON: temperature as a list": {"temperature": [0.5]}, "JSON: model as an object": {"model": {"a": 1}},
        "JSON: language as a number": {"language": 123}, "JSON: prompt as an object": {"prompt": {}},
        "JSON: known_speaker_names of numbers": {"known_speaker_names": [1]},
        "JSON: a bad known_speaker_reference": {"known_speaker_names": ["a"],
                                                "known_speaker_references": ["data:audio/wav;base64,AAAA"]},
        "JSON: stream as a list": {"stream": [True]}, "JSON: keywords with markup": {"keywords": ["<x>"]},
    }.items():
        add(Case(name, "POST", TRANSCRIBE, _b64(**fields), BAD))
    # Speech.
    for name, fields in {
        "empty input": {"input": ""}, "input over the limit": {"input": "a " * 2100},
        "input of control characters only": {"input": "\x00\x01\x02"}, "an unknown voice": {"voice": "nope"},
        "voice as an object with a number": {"voice": {"id": 5}}, "voice as a number": {"voice": 5},
        "speed 0": {"speed": 0}, "speed 100": {"speed": 100}, "speed as a word": {"speed": "fast"},
        "response_format exe": {"response_format": "exe"}, "a transcription model": {"model": "whisper-1"},
        "input as a list": {"input": ["a", "b"]}, "instructions over the limit": {"instructions": "x" * 5000},
        "stream_format video": {"stream_format": "video"},
    }.items():
        add(Case(f"speech: {name}", "POST", SPEECH, _speech(**fields), BAD))
    add(Case("speech: an unknown model", "POST", SPEECH, _speech(model="tts-nope"), (404,), "model_not_found"))
    add(Case("speech: a lone surrogate", "POST", SPEECH,
             _raw('{"model": "tts-1", "voice": "alloy", "input": "a \\ud800 b"}'), MAYBE))
    add(Case("speech: 150 emoji (75 s of audio)", "POST", SPEECH, _speech(input="\U0001F600" * 150), OK, max_s=40))
    add(Case("speech: zero-width and right-to-left text", "POST", SPEECH,
             _speech(input="\u200b\u200f\u202eHello\u200d there\u2066."), OK))
    add(Case("speech: NUL inside the input", "POST", SPEECH, _speech(input="Hello\x00 world."), OK))
    add(Case("speech: a JSON array body", "POST", SPEECH, _json([1, 2, 3]), BAD))
    add(Case("speech: a JSON string body", "POST", SPEECH, _raw('"hello"'), BAD))
    add(Case("speech: nested JSON", "POST", SPEECH, _raw(NESTED), BAD))
    add(Case("speech: invalid UTF-8", "POST", SPEECH, _raw(b'{"input": "\xff\xfe", "voice": "alloy"}'), BAD))
    # the speech route takes a voice sample in JSON (up to 10 MiB as base64): bodies past that are refused
    add(Case("speech: a 2 MB input", "POST", SPEECH, _speech(input="a" * 2_000_000), BAD, "input_too_long"))
    add(Case("speech: a 16 MB JSON body", "POST", SPEECH, _speech(input="a" * 16_000_000), (413,), "body_too_large"))
    add(Case("nested JSON upload body", "POST", TRANSCRIBE, _raw(NESTED), BAD))
    add(Case("nested JSON with an idempotency key", "POST", TRANSCRIBE, _raw(NESTED, headers={"idempotency-key": "n"}),
             BAD))
    # Keys, headers and routes.
    add(Case("no key", "POST", SPEECH, _speech(), (401,), "missing_api_key", key="none"))
    add(Case("no key and a 20 MB body", "POST", TRANSCRIBE, _raw(b"\0" * 20_000_000), (401,), "missing_api_key",
             key="none"))
    add(Case("a wrong key", "GET", "/v1/models", expect=(401,), code="invalid_api_key", key="vg_live_wrong"))
    add(Case("a Basic credential", "GET", "/v1/models", lambda: {"headers": {"authorization": "Basic dXNlcjpwdw=="}},
             (401,), "missing_api_key", key="none"))
    add(Case("Bearer without a token", "GET", "/v1/models", lambda: {"headers": {"authorization": "Bearer"}},
             (401,), "missing_api_key", key="none"))
    add(Case("a 10 KB token", "GET", "/v1/models", expect=(401,), code="invalid_api_key", key="vg_" + "x" * 10_000))
    add(Case("a revoked key", "GET", "/v1/models", expect=(401,), code="invalid_api_key", key="revoked"))
    add(Case("a user key on an admin route", "GET", "/v1/admin/keys", expect=(403,), code="forbidden"))
    add(Case("a pipeline key naming another model", "POST", SPEECH, _speech(model="tts-1"), (403,), "forbidden",
             key="pipeline"))
    add(Case("an unknown route", "GET", "/v1/nope", expect=(404,)))
    add(Case("GET on a POST route", "GET", SPEECH, expect=(405,)))
    add(Case("an Idempotency-Key of 300 characters", "POST", SPEECH,
             lambda: {**_speech()(), "headers": {"idempotency-key": "k" * 300}}, BAD, "invalid_idempotency_key"))
    add(Case("a 10 KB X-Client-Request-Id", "GET", "/v1/models",
             lambda: {"headers": {"x-client-request-id": "c" * 10_000}}, OK))
    add(Case("admin: a key with an unknown field", "POST", "/v1/admin/keys", _json({"name": "x", "root": True}), BAD,
             key="admin"))
    add(Case("admin: negative credits", "POST", "/v1/admin/keys", _json({"name": "x", "credits": -5}), BAD,
             key="admin"))
    add(Case("a model id with dots", "GET", "/v1/models/..%2F..%2Fetc", expect=(404,)))
    # Jobs and webhooks.
    add(Case("an unknown job", "GET", "/v1/jobs/job_nope", expect=(404,)))
    add(Case("cancel an unknown job", "POST", "/v1/jobs/job_nope/cancel", expect=(404,)))
    add(Case("jobs with an unknown status", "GET", "/v1/jobs", lambda: {"params": {"status": "nope"}}, BAD))
    add(Case("jobs with limit 1000", "GET", "/v1/jobs", lambda: {"params": {"limit": 1000}}, BAD))
    add(Case("resend an unknown delivery", "POST", "/v1/webhooks/deliveries/whd_nope/resend", expect=(404,)))
    add(Case("deliveries with an unknown status", "GET", "/v1/webhooks/deliveries",
             lambda: {"params": {"status": "nope"}}, BAD))
    add(Case("a private default webhook", "POST", "/v1/webhooks/default", _json({"url": "http://10.0.0.1/x"}), BAD,
             "invalid_webhook_url"))
    add(Case("a default webhook with credentials", "POST", "/v1/webhooks/default",
             _json({"url": "http://u:p@example.com/"}), BAD, "invalid_webhook_url"))
    return cases


CASES = _cases()

_HOST = b"host: 127.0.0.1\r\n"
RAW_CASES = [
    RawCase("100 KB of headers", (b"GET /healthz HTTP/1.1\r\n" + _HOST + b"x-big: " + b"a" * 100_000 + b"\r\n\r\n",),
            431),
    RawCase("a Content-Length that is not a number",
            (b"POST /v1/audio/speech HTTP/1.1\r\n" + _HOST + b"content-length: abc\r\n\r\n",), 400),
    RawCase("both Transfer-Encoding and Content-Length",
            (b"POST /v1/audio/speech HTTP/1.1\r\n" + _HOST + b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n"
             b"0\r\n\r\n",), 400),
    RawCase("a declared Content-Length over the limit",
            (b"POST /v1/audio/transcriptions HTTP/1.1\r\n" + _HOST + b"authorization: Bearer {key}\r\n"
             b"content-type: application/json\r\ncontent-length: " + str(UPLOAD_LIMIT * 3).encode() + b"\r\n\r\n{}",),
            413),
    RawCase("a malformed request line", (b"HELLO\x00 / HTTP/9\r\n\r\n",), 400),
    RawCase("headers sent a line every 0.5 s (slowloris)",
            tuple([b"GET /healthz HTTP/1.1\r\n"] + [b"x-a: b\r\n"] * 20), None, pause_s=0.5, closed_within_s=4.0),
    RawCase("a body that stops half-way",
            (b"POST /v1/audio/speech HTTP/1.1\r\n" + _HOST + b"authorization: Bearer {key}\r\n"
             b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"input\": ",), None,
            closed_within_s=5.0),
    RawCase("a body sent a byte every 0.4 s",
            tuple([b"POST /v1/audio/speech HTTP/1.1\r\n" + _HOST + b"authorization: Bearer {key}\r\n"
                   b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n"] + [b" "] * 30), None,
            pause_s=0.4, closed_within_s=5.0),
    RawCase("a connection that sends nothing", (), None, closed_within_s=4.0),
    RawCase("HTTP/1.0 without a host", (b"GET /healthz HTTP/1.0\r\n\r\n",), 200),
]


def envelope(body: bytes) -> dict[str, Any] | None:
    """The error object of an envelope body, or None when the body is not exactly an envelope."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict) or set(error) != {"message", "type", "param", "code"}:
        return None
    return error
