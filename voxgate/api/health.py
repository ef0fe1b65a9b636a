"""Liveness (/healthz answers even while models run) and readiness (default models load and serve)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request

from voxgate.api.context import get_ctx
from voxgate.errors import APIError

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, Any]:
    """Load the default models (off the event loop) and report them; 503 if one cannot load."""
    ctx = get_ctx(request)
    models = {}
    for task, load in (("transcription", ctx.transcription.engine), ("speech", ctx.speech.engine)):
        spec = ctx.catalog.default(task)
        try:
            await anyio.to_thread.run_sync(load, spec)
        except Exception as exc:  # any load failure means "not ready", with the reason
            raise APIError(503, f"default {task} model {spec.id!r} cannot load: {exc}", code="not_ready",
                           type="server_error") from None
        models[task] = spec.id
    return {"status": "ready", "models": models}
