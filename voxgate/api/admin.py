"""/v1/admin: manage API keys over HTTP (no shell needed) and read inference counters. Admin keys only.

The handlers are plain functions: FastAPI runs them in its thread pool, so their SQLite reads and writes never
run on the event loop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.context import get_ctx, require_admin
from voxgate.errors import bad_request

router = APIRouter(prefix="/v1/admin", dependencies=[Depends(require_admin)])


MAX_CREDITS = 1e9  # a balance is kept in nano-credits in a 64-bit integer (at most 9.2e18)
MAX_LIMIT = 10**6  # requests per minute, concurrent requests


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="default", min_length=1, max_length=200)
    admin: bool = False
    pipeline: str | None = None
    credits: float | None = Field(default=None, ge=0, le=MAX_CREDITS, allow_inf_nan=False)
    rpm: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    concurrency: int | None = Field(default=None, ge=0, le=MAX_LIMIT)


class KeyUpdate(BaseModel):
    """Only the fields sent change; null clears (pipeline: workspace key, credits: unlimited,
    rpm / concurrency: server default)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    admin: bool | None = None
    pipeline: str | None = None
    credits: float | None = Field(default=None, ge=0)
    add_credits: float | None = Field(default=None, ge=-MAX_CREDITS, le=MAX_CREDITS, allow_inf_nan=False)
    rpm: int | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=0)


@router.get("/keys")
def list_keys(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [k.public() for k in get_ctx(request).accounts.list_keys()]}


@router.post("/keys")
def create_key(body: KeyCreate, request: Request) -> JSONResponse:
    ctx = get_ctx(request)
    record, plain = ctx.accounts.create_key(body.name, admin=body.admin, pipeline=body.pipeline, credits=body.credits,
                                            rpm=body.rpm, concurrency=body.concurrency)
    ctx.gateway.keep_secret(request)  # the plain key must never land in the idempotency store
    return JSONResponse({**record.public(), "key": plain}, status_code=201)


@router.get("/keys/{key_id}")
def get_key(key_id: str, request: Request) -> dict[str, Any]:
    return get_ctx(request).accounts.key(key_id).public()


@router.post("/keys/{key_id}", operation_id="update_key_post")
def update_key_post(key_id: str, body: KeyUpdate, request: Request) -> dict[str, Any]:
    """The same as PATCH, for clients that cannot send one."""
    return update_key(key_id, body, request)


@router.patch("/keys/{key_id}")
def update_key(key_id: str, body: KeyUpdate, request: Request) -> dict[str, Any]:
    ctx = get_ctx(request)
    sent = body.model_fields_set
    if "credits" in sent and "add_credits" in sent:
        raise bad_request("send either credits (set the balance) or add_credits (top up), not both",
                          param="credits")
    changes: dict[str, Any] = {name: getattr(body, name) for name in ("name", "admin", "rpm", "concurrency", "credits",
                                                                      "pipeline") if name in sent}
    if "add_credits" in sent and body.add_credits is not None:
        changes["add_credits"] = body.add_credits
    if changes.get("name", "") is None or changes.get("admin", False) is None:
        raise bad_request("name and admin cannot be null")
    return ctx.accounts.update_key(key_id, **changes).public()


@router.delete("/keys/{key_id}")
def delete_key(key_id: str, request: Request) -> dict[str, Any]:
    return revoke_key(key_id, request)


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
    get_ctx(request).accounts.revoke_key(key_id)
    return {"id": key_id, "object": "api_key.revoked", "revoked": True}


@router.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Per-model inference counts since start-up, over every service that counts them."""
    counts = get_ctx(request).inference_counts()
    return {"object": "stats", "inferences": counts, "total_inferences": sum(counts.values())}
