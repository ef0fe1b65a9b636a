"""The upstream proxy's SSE line splitting on httpcore's raw body blocks: events cut anywhere by the network,
LF or CRLF, and a line past the bound ends the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpcore

from voxgate.llm.upstream import MAX_LINE_BYTES, _lines


async def _blocks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _split(*parts: bytes) -> list[bytes]:
    async def run() -> list[bytes]:
        return [line async for line in _lines(httpcore.Response(200, content=_blocks(*parts)))]
    return asyncio.run(run())


def test_lines_are_joined_across_blocks_and_crlf_is_stripped() -> None:
    lines = _split(b'data: {"a"', b': 1}\r\n\r\nda', b'ta: [DONE]\n', b'\n: tail without newline')
    assert lines == [b'data: {"a": 1}', b"", b"data: [DONE]", b"", b": tail without newline"]


def test_an_over_long_line_is_yielded_whole_and_ends_the_stream() -> None:
    big = b"x" * (MAX_LINE_BYTES // 4)
    lines = _split(b"data: 1\n", *([big] * 5), b"\ndata: never read\n")
    assert lines[0] == b"data: 1"
    assert len(lines) == 2 and len(lines[1]) > MAX_LINE_BYTES
