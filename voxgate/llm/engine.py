"""The one interface both chat engines offer: a whole completion, or its chunks as they are generated.

Payloads and results are OpenAI chat-completion JSON (dicts): llama.cpp's server and every upstream speak it,
so nothing is translated twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class ChatEngine(Protocol):
    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The `chat.completion` object for `payload` (which has `stream` false)."""
        ...

    def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The `chat.completion.chunk` objects for `payload`, the last one carrying `usage`; closing the
        iterator early stops the generation."""
        ...
