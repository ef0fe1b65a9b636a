"""Responses read lazily: SSE event streams and binary audio, sync and async.

Streams are never retried once the status line is in: bytes may already be in the caller's hands."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

import httpx

from voxgate.sdk.errors import ConnectionError, StreamError

T = TypeVar("T")

__all__ = ["Stream", "AsyncStream", "BinaryResponse", "StreamedBinaryResponse", "AsyncStreamedBinaryResponse"]


class _SSEDecoder:
    """Line-oriented SSE: `data:` lines accumulate until a blank line; `[DONE]` ends the stream."""

    def __init__(self) -> None:
        self.data: list[str] = []

    def feed(self, line: str) -> str | None:
        line = line.rstrip("\r")
        if line == "":
            if not self.data:
                return None
            payload, self.data = "\n".join(self.data), []
            return payload
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self.data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        return self.feed("")


def _event(payload: str, parse: Callable[[dict[str, Any]], T], request_id: str | None) -> T | None:
    """Parse one data payload; None at [DONE]; an `error` object is raised."""
    if payload.strip() == "[DONE]":
        return None
    data = json.loads(payload)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        raise StreamError(str(err.get("message") or "stream error"), type=err.get("type"), code=err.get("code"),
                          param=err.get("param"), request_id=request_id)
    return parse(data)


class Stream(Generic[T]):
    """Iterate the events of a `stream=True` call; close it (or use `with`) to drop the connection early."""

    def __init__(self, response: httpx.Response, parse: Callable[[dict[str, Any]], T]) -> None:
        self.response = response
        self._parse = parse
        self.request_id: str | None = response.headers.get("x-request-id")

    def __iter__(self) -> Iterator[T]:
        decoder = _SSEDecoder()
        try:
            for line in self.response.iter_lines():
                payload = decoder.feed(line)
                if payload is None:
                    continue
                event = _event(payload, self._parse, self.request_id)
                if event is None:
                    return
                yield event
            payload = decoder.flush()
            if payload is not None and (event := _event(payload, self._parse, self.request_id)) is not None:
                yield event
        except httpx.TransportError as exc:
            raise ConnectionError(f"the stream broke off: {exc}", request_id=self.request_id) from exc
        finally:
            self.response.close()

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncStream(Generic[T]):
    """`async for` over the events of a `stream=True` call."""

    def __init__(self, response: httpx.Response, parse: Callable[[dict[str, Any]], T]) -> None:
        self.response = response
        self._parse = parse
        self.request_id: str | None = response.headers.get("x-request-id")

    async def __aiter__(self) -> AsyncIterator[T]:
        decoder = _SSEDecoder()
        try:
            async for line in self.response.aiter_lines():
                payload = decoder.feed(line)
                if payload is None:
                    continue
                event = _event(payload, self._parse, self.request_id)
                if event is None:
                    return
                yield event
            payload = decoder.flush()
            if payload is not None and (event := _event(payload, self._parse, self.request_id)) is not None:
                yield event
        except httpx.TransportError as exc:
            raise ConnectionError(f"the stream broke off: {exc}", request_id=self.request_id) from exc
        finally:
            await self.response.aclose()

    async def close(self) -> None:
        await self.response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class BinaryResponse:
    """A fully read binary body (speech audio), shaped like the openai SDK's binary response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.request_id: str | None = response.headers.get("x-request-id")

    @property
    def content(self) -> bytes:
        return self.response.content

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    def read(self) -> bytes:
        return self.response.content

    def json(self) -> Any:
        return self.response.json()

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        data = self.response.content
        size = chunk_size or len(data) or 1
        for i in range(0, len(data), size):
            yield data[i:i + size]

    def write_to_file(self, file: str | os.PathLike[str]) -> None:
        with open(file, "wb") as out:
            out.write(self.response.content)

    stream_to_file = write_to_file


class StreamedBinaryResponse:
    """`with client.audio.speech.with_streaming_response.create(...) as response:` - bytes as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.http_response = response
        self.request_id: str | None = response.headers.get("x-request-id")

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        try:
            yield from self.http_response.iter_bytes(chunk_size)
        except httpx.TransportError as exc:
            raise ConnectionError(f"the stream broke off: {exc}", request_id=self.request_id) from exc

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def stream_to_file(self, file: str | os.PathLike[str], *, chunk_size: int | None = None) -> None:
        with open(file, "wb") as out:
            for chunk in self.iter_bytes(chunk_size):
                out.write(chunk)

    def parse(self) -> BinaryResponse:
        self.read()
        return BinaryResponse(self.http_response)

    def close(self) -> None:
        self.http_response.close()


class AsyncStreamedBinaryResponse:
    """The async twin of StreamedBinaryResponse."""

    def __init__(self, response: httpx.Response) -> None:
        self.http_response = response
        self.request_id: str | None = response.headers.get("x-request-id")

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.http_response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.TransportError as exc:
            raise ConnectionError(f"the stream broke off: {exc}", request_id=self.request_id) from exc

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def stream_to_file(self, file: str | os.PathLike[str], *, chunk_size: int | None = None) -> None:
        with open(file, "wb") as out:
            async for chunk in self.iter_bytes(chunk_size):
                out.write(chunk)

    async def parse(self) -> BinaryResponse:
        await self.read()
        return BinaryResponse(self.http_response)

    async def close(self) -> None:
        await self.http_response.aclose()
