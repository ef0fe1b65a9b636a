"""Read a request body once (to fingerprint it) and hand the same bytes to the application afterwards.

The fingerprint must be equal for a genuine retry and differ when anything the server reads differs.
Clients regenerate the multipart boundary on every attempt (httpx, and so the openai SDK, does) and order
fields as they like, so a multipart body is digested as its sorted (field, value bytes) pairs; a JSON
body is hashed in canonical form (sorted keys). Anything else is hashed as raw bytes."""

from __future__ import annotations

import hashlib
import json
import tempfile
from typing import IO

import anyio
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import Message, Receive

SPOOL_IN_MEMORY = 1 << 20
CHUNK = 1 << 16
BATCH = 1 << 20


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class _MultipartDigest:
    """Digests a multipart/form-data body as its sorted (field name, file or not, value bytes) parts: the
    boundary, part order, filenames and other part headers vary between clients and retries and are left out."""

    def __init__(self, boundary: bytes) -> None:
        self.parts: list[tuple[bytes, str]] = []
        self.raw = hashlib.sha256()
        self.ok = bool(boundary)
        self._name = b""
        self._header_field = b""
        self._header_value = b""
        self._part = hashlib.sha256()
        self._is_file = False
        callbacks = {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
            "on_header_field": self._field, "on_header_value": self._value, "on_header_end": self._header_end,
        }
        self.parser = MultipartParser(boundary, callbacks) if boundary else None  # type: ignore[arg-type]

    def _begin(self) -> None:
        self._name, self._part, self._is_file = b"", hashlib.sha256(), False

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.strip().lower() == b"content-disposition":
            options = parse_options_header(self._header_value)[1]
            self._name = options.get(b"name", b"")
            self._is_file = b"filename" in options  # a file part and a text part of equal bytes differ
        self._header_field = self._header_value = b""

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._part.update(data[start:end])

    def _end(self) -> None:
        name = self._name[:-2] if self._name.endswith(b"[]") else self._name  # x and x[] are one field
        self.parts.append((name + (b"\0file" if self._is_file else b""), self._part.hexdigest()))

    def feed(self, chunk: bytes) -> None:
        self.raw.update(chunk)
        if self.ok and self.parser is not None:
            try:
                self.parser.write(chunk)
            except Exception:  # malformed: the route answers 400; fall back to the raw bytes
                self.ok = False

    def digest(self) -> str:
        if not self.ok:
            return "raw:" + self.raw.hexdigest()
        h = hashlib.sha256()
        for name, value in sorted(self.parts, key=lambda p: p[0]):  # stable: repeated fields keep their order
            h.update(name + b"\0" + value.encode() + b"\0")
        return h.hexdigest()


def _content_type(headers: dict[str, str]) -> tuple[str, bytes]:
    """(media type, multipart boundary or b"")."""
    raw = headers.get("content-type", "")
    media, *params = [p.strip() for p in raw.split(";")]
    boundary = b""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"').encode("latin-1", errors="replace")
    return media.lower(), boundary


class BufferedBody:
    """The request body, spooled to disk past 1 MiB, plus its fingerprint digest."""

    def __init__(self, spool: IO[bytes], size: int, digest: str) -> None:
        self.spool = spool
        self.size = size
        self.digest = digest

    def receive(self, downstream: Receive) -> Receive:
        """An ASGI receive that replays the body, then defers to the real one (for disconnects)."""
        self.spool.seek(0)
        sent = 0
        done = False

        async def _receive() -> Message:
            nonlocal sent, done
            if done:
                return await downstream()
            chunk = self.spool.read(CHUNK)
            sent += len(chunk)
            more = sent < self.size
            done = not more
            return {"type": "http.request", "body": chunk, "more_body": more}

        return _receive

    def close(self) -> None:
        self.spool.close()


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> BufferedBody:
    """Consume the whole request body; raises BodyTooLarge past `limit` bytes, ClientGone on disconnect.

    Spooling, hashing and the multipart and JSON parsing are CPU work: they run off the event loop, a
    batch of up to BATCH bytes at a time."""
    media, boundary = _content_type(headers)
    hasher = hashlib.sha256()
    hasher.update(media.encode() + b"\0")
    form = _MultipartDigest(boundary) if media == "multipart/form-data" else None
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115  # BufferedBody closes it

    def consume(chunks: list[bytes]) -> None:
        for chunk in chunks:
            spool.write(chunk)
            if form is not None:
                form.feed(chunk)
            elif media != "application/json":
                hasher.update(chunk)

    def finish() -> None:
        if media == "application/json":
            spool.seek(0)
            hasher.update(_canonical_json(spool.read()))
        elif form is not None:
            hasher.update(form.digest().encode())

    size, pending, pending_size = 0, [], 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge()
            pending.append(chunk)
            pending_size += len(chunk)
            more = message.get("more_body", False)
            if pending_size >= BATCH or not more:
                await anyio.to_thread.run_sync(consume, pending)
                pending, pending_size = [], 0
            if not more:
                break
        await anyio.to_thread.run_sync(finish)
    except BaseException:
        spool.close()
        raise
    return BufferedBody(spool, size, hasher.hexdigest())


def _canonical_json(raw: bytes) -> bytes:
    """Equal for equal JSON whatever its key order and spacing; the raw bytes when it does not parse."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # the route answers it with a 400
        return raw


def fingerprint(method: str, path: str, query: bytes, key_id: str, body_digest: str) -> str:
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, key_id.encode(), body_digest.encode()):
        h.update(part + b"\0")
    return h.hexdigest()
