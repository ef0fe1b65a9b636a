"""Server-sent events as the OpenAI SDK reads them: one JSON object per `data:` line, a blank line after."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

DONE = b"data: [DONE]\n\n"


def sse_event(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def with_first(first: dict[str, Any] | None,
                     rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """A stream whose first item was read before the response started (so an at-once failure got its status)."""
    if first is not None:
        yield first
    async for item in rest:
        yield item
