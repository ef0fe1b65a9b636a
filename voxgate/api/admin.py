"""/v1/admin: manage API keys over HTTP (no shell needed) and read inference counters. Admin keys only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.context import AppContext, get_ctx, require_admin
from voxgate.api.errors import APIError, bad_request
from voxgate.models.stats import InferenceCounter
from voxgate.store.keys import ApiKey

router = APIRouter(prefix="/v1/admin", dependencies=[Depends(require_admin)])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=200)
    admin: bool = False
    pipeline: str | None = None
    credits: float | None = Field(default=None, ge=0)
    rpm: int | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=0)


class KeyUpdate(BaseModel):
    """Only the fields sent change; null clears (pipeline: workspace key, credits: unlimited,
    rpm / concurrency: server default)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    admin: bool | None = None
    pipeline: str | None = None
    credits: float | None = Field(default=None, ge=0)
    add_credits: float | None = None
    rpm: int | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=0)


def pipeline_id(ctx: AppContext, name: str | None) -> str | None:
    """A pipeline is stored as the catalog id, so aliases of it keep working."""
    if not name:
        return None
    spec = ctx.catalog.resolve(name)
    if spec is None:
        raise bad_request(f"unknown model {name!r} for pipeline; GET /v1/models lists them", param="pipeline",
                          code="model_not_found")
    return spec.id


def _found(record: ApiKey | None, key_id: str) -> ApiKey:
    if record is None:
        raise APIError(404, f"no live API key {key_id!r}", code="key_not_found")
    return record


@router.get("/keys")
async def list_keys(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [k.public() for k in get_ctx(request).keys.list()]}


@router.post("/keys")
async def create_key(body: KeyCreate, request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    record, plain = ctx.keys.create(body.name, admin=body.admin, pipeline=pipeline_id(ctx, body.pipeline),
                                    credits=body.credits, rpm=body.rpm, concurrency=body.concurrency)
    ctx.gateway.keep_secret(request)  # the plain key must never land in the idempotency store
    return JSONResponse({**record.public(), "key": plain}, status_code=201)


@router.get("/keys/{key_id}")
async def get_key(key_id: str, request: Request) -> dict[str, Any]:
    return _found(get_ctx(request).keys.get(key_id), key_id).public()


@router.api_route("/keys/{key_id}", methods=["PATCH", "POST"])
async def update_key(key_id: str, body: KeyUpdate, request: Request) -> dict[str, Any]:
    ctx = get_ctx(request)
    sent = body.model_fields_set
    if "credits" in sent and "add_credits" in sent:
        raise bad_request("send either credits (set the balance) or add_credits (top up), not both",
                          param="credits")
    changes: dict[str, Any] = {name: getattr(body, name) for name in ("name", "admin", "rpm", "concurrency", "credits")
                               if name in sent}
    if "pipeline" in sent:
        changes["pipeline"] = pipeline_id(ctx, body.pipeline)
    if "add_credits" in sent and body.add_credits is not None:
        changes["add_credits"] = body.add_credits
    if changes.get("name", "") is None or changes.get("admin", False) is None:
        raise bad_request("name and admin cannot be null")
    return _found(ctx.keys.update(key_id, **changes), key_id).public()


@router.delete("/keys/{key_id}")
async def delete_key(key_id: str, request: Request) -> dict[str, Any]:
    return await revoke_key(key_id, request)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
    ctx = get_ctx(request)
    if not ctx.keys.revoke(key_id):
        raise APIError(404, f"no live API key {key_id!r}", code="key_not_found")
    return {"id": key_id, "object": "api_key.revoked", "revoked": True}


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    """Per-model inference counts since start-up, from every service that keeps an InferenceCounter."""
    ctx = get_ctx(request)
    counts: dict[str, int] = {}
    for service in vars(ctx).values():
        counter = getattr(service, "inferences", None)
        if isinstance(counter, InferenceCounter):
            for model, n in counter.snapshot().items():
                counts[model] = counts.get(model, 0) + n
    return {"object": "stats", "inferences": counts, "total_inferences": sum(counts.values())}
