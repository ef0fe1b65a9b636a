"""An embedded GGUF chat model, run in-process by llama.cpp's server (PyPI `xllamacpp`): continuous batching
over `parallel` sequences, prompt caching, OpenAI-shaped chunks.

llama.cpp calls back on the thread that asked, so each request runs in a worker thread and its chunks
cross to the event loop through a queue; a closed stream makes the next callback stop the generation."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from voxgate.errors import APIError
from voxgate.models.catalog import ModelSpec

log = logging.getLogger("voxgate.llm")
_DONE = object()
_HIDDEN = ("timings", "system_fingerprint")  # llama.cpp's own fields, not OpenAI's


def _error(body: dict[str, Any]) -> APIError:
    """llama.cpp's error object as the envelope: its 4xx are the client's (an over-long prompt), the rest ours."""
    code = int(body.get("code") or 500)
    kind = str(body.get("type") or "")
    message = str(body.get("message") or "the model failed")
    if kind == "exceed_context_size_error":
        return APIError(400, f"the messages do not fit this model's context: {message}", param="messages",
                        code="context_length_exceeded")
    if 400 <= code < 500:
        return APIError(400, message, code="invalid_request")
    return APIError(500, f"the model failed: {message}", code="model_error", type="server_error")


class LlamaCppEngine:
    """One loaded GGUF, shared by every request of the process (the registry keeps it)."""

    def __init__(self, server: Any, spec: ModelSpec, parallel: int, max_waiting: int) -> None:
        self.server = server
        self.spec = spec
        self.capacity = parallel + max_waiting  # requests in the engine at once; more are refused (429)
        self._in_flight = 0
        self._lock = threading.Lock()

    @classmethod
    def load(cls, spec: ModelSpec, path: Path, *, cpu_threads: int, parallel: int, context: int,
             max_tokens: int, max_waiting: int) -> LlamaCppEngine:
        import xllamacpp

        model_file = path / spec.join.file if path.is_dir() and spec.join is not None else path
        params = xllamacpp.CommonParams()
        params.model.path = str(model_file)
        params.n_parallel = parallel
        params.n_ctx = context * parallel  # llama.cpp splits the context between the sequences
        params.n_predict = max_tokens  # a completion's hard cap, whatever a request says
        params.cpuparams.n_threads = cpu_threads
        params.cpuparams_batch.n_threads = cpu_threads
        params.verbosity = -1
        params.warmup = True
        # llama.cpp also listens on a loopback port; a random key it never tells anyone keeps that port shut,
        # so every token goes through voxgate's gateway
        params.ui = False
        params.api_keys = [secrets.token_urlsafe(24)]
        engine = cls(xllamacpp.Server(params), spec, parallel, max_waiting)
        # one real token pages the weights in now, not on the first caller's time
        engine.server.handle_chat_completions({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
        return engine

    def _enter(self) -> None:
        with self._lock:
            if self._in_flight >= self.capacity:
                raise APIError(429, f"model {self.spec.id!r} is busy: {self._in_flight} requests are running or "
                                    "queued; retry shortly", code="model_busy", headers={"Retry-After": "1"})
            self._in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _clean(self, obj: dict[str, Any]) -> dict[str, Any]:
        for name in _HIDDEN:
            obj.pop(name, None)
        obj["model"] = self.spec.id  # not the weight file's path
        return obj

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._enter()
        try:
            result = await anyio.to_thread.run_sync(self.server.handle_chat_completions, payload)
        except ValueError as exc:  # a payload llama.cpp cannot parse
            raise APIError(400, str(exc), code="invalid_request") from None
        finally:
            self._leave()
        if "error" in result:
            raise _error(result["error"])
        return self._clean(result)

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self._enter()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()  # bounded by the completion's max_tokens
        stop = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            return stop.is_set()  # True: llama.cpp stops generating

        def run() -> None:
            try:
                self.server.handle_chat_completions(payload, on_chunk)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except Exception as exc:  # handed to the consumer, which raises it on the loop
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                self._leave()

        threading.Thread(target=run, name=f"llm-{self.spec.id}", daemon=True).start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, ValueError):
                    raise APIError(400, str(item), code="invalid_request")
                if isinstance(item, Exception):
                    raise item
                if "error" in item:
                    raise _error(item["error"])
                yield self._clean(item)
        finally:
            stop.set()
