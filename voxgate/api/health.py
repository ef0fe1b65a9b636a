"""Liveness (/healthz answers even while models run) and readiness (default models load and serve)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from voxgate.api.context import get_ctx
from voxgate.errors import APIError

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, Any]:
    """Ready once the default models are loaded. Anyone may ask, so asking never loads a model (the server
    warms them at start) and a failure is reported without its exception (that goes to the log)."""
    ctx = get_ctx(request)
    models = {task: ctx.catalog.default(task).id for task in ("transcription", "speech")}
    if ctx.warmup.failed:
        raise APIError(503, "a default model failed to load; see the server log", code="not_ready",
                       type="server_error")
    if not all(ctx.registry.is_loaded(model_id) for model_id in models.values()):
        raise APIError(503, "the default models are still loading", code="not_ready", type="server_error",
                       headers={"Retry-After": "2"})
    return {"status": "ready", "models": models}
