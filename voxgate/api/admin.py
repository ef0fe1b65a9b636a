"""/v1/admin: manage API keys over HTTP (no shell needed) and read inference counters. Admin keys only.

The handlers are plain functions: FastAPI runs them in its thread pool, so their SQLite reads and writes never
run on the event loop."""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.context import AppContext, get_ctx, require_admin
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
async def stats(request: Request) -> dict[str, Any]:
    """The counters /metrics exports, as JSON: this process's since it started, then the database's totals
    (the ledger, jobs, webhook deliveries), which survive restarts and every process shares."""
    return await anyio.to_thread.run_sync(_stats, get_ctx(request))


def _series(samples: list[tuple[dict[str, str], float]], *labels: str) -> list[dict[str, Any]]:
    return [{**{name: got.get(name, "") for name in labels}, "count": int(value)} for got, value in samples if value]


def _stats(ctx: AppContext) -> dict[str, Any]:
    snap = ctx.metrics.snapshot()
    inferences = {got["model"]: int(value) for got, value in snap.get("voxgate_inferences_total", [])}
    sums = {(g["route"], g["model"]): v for g, v in snap.get("voxgate_request_duration_seconds_sum", [])}
    latency = [{"route": g["route"], "model": g["model"], "count": int(n),
                "mean_ms": round(1000 * sums.get((g["route"], g["model"]), 0.0) / n, 2)}
               for g, n in snap.get("voxgate_request_duration_seconds_count", []) if n]
    return {
        "object": "stats",
        "inferences": inferences,  # engine runs by model, this process (a replay runs none)
        "total_inferences": sum(inferences.values()),
        "process": {
            "started_at": int(ctx.started_at), "uptime_s": round(time.time() - ctx.started_at, 1),
            "requests": _series(snap.get("voxgate_requests_total", []), "route", "method", "status", "model"),
            "latency": latency,
            "refused": _series(snap.get("voxgate_refused_total", []), "status", "route"),
            "units": _series(snap.get("voxgate_units_total", []), "model", "unit"),
            "idempotent_replays": int(sum(v for _, v in snap.get("voxgate_idempotent_replays_total", []))),
            "idempotency_conflicts": _series(snap.get("voxgate_idempotency_conflicts_total", []), "code"),
            "realtime_sessions_open": {g["kind"]: int(v) for g, v in snap.get("voxgate_realtime_sessions", [])},
            "models_loaded": {g["model"]: v for g, v in snap.get("voxgate_model_load_seconds", [])},
        },
        "totals": {
            "usage": ctx.accounts.totals(),
            "jobs": {g["status"]: int(v) for g, v in snap.get("voxgate_jobs", [])},
            "webhook_deliveries": {g["status"]: int(v) for g, v in snap.get("voxgate_webhook_deliveries", [])},
        },
    }
