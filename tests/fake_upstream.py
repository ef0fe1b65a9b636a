"""A fake OpenAI-compatible chat server on loopback, for the proxy tests: it records what it was sent and
answers by the model name it is asked for (plain, streamed, an error, slow, a stream cut off)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import free_port

REPLY = ["Hello", " from", " upstream", "."]


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class FakeUpstream:
    def __init__(self, port: int | None = None) -> None:
        self.seen: list[dict[str, Any]] = []  # (headers and body) of each request
        self.port = port or free_port()
        app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                                Route("/v1/images/generations", self.images, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeUpstream:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the fake upstream did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.seen.append({"authorization": request.headers.get("authorization"), "body": body})
        model = body.get("model")
        if model == "broken":
            return JSONResponse({"error": {"message": "the GPU caught fire", "type": "server_error"}}, status_code=500)
        if model == "picky":
            return JSONResponse({"error": {"message": "temperature is not allowed", "type": "invalid_request_error"}},
                                status_code=400)
        if model == "slow":
            await asyncio.sleep(30)
        if not body.get("stream"):
            usage = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
            return JSONResponse({"id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": model,
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": "".join(REPLY)}}],
                                 "usage": usage})

        async def events() -> Any:
            yield f"data: {json.dumps(_chunk(model, {'role': 'assistant', 'content': ''}))}\n\n"
            for i, word in enumerate(REPLY):
                if model == "cut" and i == 2:
                    yield 'data: {"error": {"message": "upstream lost the model"}}\n\n'
                    return
                yield f"data: {json.dumps(_chunk(model, {'content': word}))}\n\n"
                await asyncio.sleep(0.05)
            yield f"data: {json.dumps(_chunk(model, {}, 'stop'))}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
                yield f"data: {json.dumps({**_chunk(model, {}), 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        body = await request.json()
        self.seen.append({"authorization": request.headers.get("authorization"), "body": body})
        if body.get("model") == "broken":
            return JSONResponse({"error": {"message": "the index is gone"}}, status_code=500)
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.5, 0.5, 0.5, 0.5]} for i in range(len(items))]
        return JSONResponse({"object": "list", "data": data, "model": body.get("model"),
                             "usage": {"prompt_tokens": 3 * len(items), "total_tokens": 3 * len(items)}})

    async def images(self, request: Request) -> Response:
        body = await request.json()
        self.seen.append({"authorization": request.headers.get("authorization"), "body": body})
        model = body.get("model")
        if model == "picky":
            return JSONResponse({"error": {"message": "the prompt was refused"}}, status_code=400)
        if model == "slow":
            await asyncio.sleep(30)
        if not body.get("stream"):
            return JSONResponse({"created": 1, "data": [{"b64_json": "aW1hZ2U="} for _ in range(body.get("n") or 1)]})

        async def events() -> Any:
            for i in range(2):
                partial = {"type": "image_generation.partial_image", "partial_image_index": i, "b64_json": "cGFydA=="}
                yield f"data: {json.dumps(partial)}\n\n"
                await asyncio.sleep(0.05)
            yield f"data: {json.dumps({'type': 'image_generation.completed', 'b64_json': 'aW1hZ2U='})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


if __name__ == "__main__":  # its own process (bench/bench_embeddings.py): `python -m tests.fake_upstream PORT`
    import sys

    FakeUpstream(int(sys.argv[1])).server.run()
