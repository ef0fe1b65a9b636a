"""GET /v1/models and /v1/models/{id}: what this server can load, with aliases listed as their own ids."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.models.catalog import ModelSpec

router = APIRouter(dependencies=[Depends(require_key)])
CREATED = 1700000000


def _card(ctx: AppContext, spec: ModelSpec, model_id: str) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "task": spec.task, "engine": spec.engine, "loaded": ctx.registry.is_loaded(spec.id),
        "aliases": list(spec.aliases), "description": spec.description,
    }
    if model_id != spec.id:
        extra["alias_of"] = spec.id
    extra["kind"] = "upstream" if spec.remote else "embedded"  # run here, or forwarded to an upstream server
    if spec.task == "speech":
        extra["voices"] = sorted(spec.voices)
        extra["openai_voices"] = {name: spec.resolve_voice(name) for name in spec.voice_names()
                                  if name not in spec.voices}
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": spec.owned_by, "voxgate": extra}


def _visible(ctx: AppContext, principal: Principal) -> set[str] | None:
    """The catalog ids a scoped key may use (its pipeline's models, or its one model); None: every one."""
    if principal.pipeline is None:
        return None
    names = [m for _, m in principal.pipeline_models] or [principal.pipeline]
    return {spec.id for spec in (ctx.catalog.resolve(n) for n in names) if spec is not None}


@router.get("/v1/models")
async def list_models(request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    ctx = get_ctx(request)
    visible = _visible(ctx, principal)
    data = []
    for spec in ctx.catalog.models.values():
        if not spec.is_available() or (visible is not None and spec.id not in visible):
            continue
        data.append(_card(ctx, spec, spec.id))
        data.extend(_card(ctx, spec, alias) for alias in spec.aliases)
    return {"object": "list", "data": data}


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
    ctx = get_ctx(request)
    spec = ctx.catalog.resolve(model_id)
    if spec is None or not spec.is_available():
        raise APIError(404, f"model {model_id!r} does not exist", code="model_not_found", param="model")
    return _card(ctx, spec, model_id)
