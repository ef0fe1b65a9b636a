"""GET /v1/usage (the calling key's metered usage by day and model, from the ledger) and GET /v1/credits."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request

from voxgate.api.context import get_ctx, require_key
from voxgate.api.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.store.keys import from_nano

router = APIRouter(dependencies=[Depends(require_key)])


def _day(value: str | None, name: str, default: date) -> str:
    if not value:
        return default.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise bad_request(f"{name} must be a date like 2025-01-31, got {value[:40]!r}", param=name) from None


def _subject(principal: Principal, key_id: str | None) -> str:
    """Whose usage: the caller's own, or (admin keys only) any key's."""
    if not key_id or key_id == principal.key_id:
        return principal.key_id
    if not principal.admin:
        raise APIError(403, "only an admin key may read another key's usage", code="forbidden", param="key_id")
    return key_id


@router.get("/v1/usage")
async def get_usage(request: Request, start_date: str | None = None, end_date: str | None = None,
                    key_id: str | None = None, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    ctx = get_ctx(request)
    today = datetime.now(timezone.utc).date()
    end = _day(end_date, "end_date", today)
    start = _day(start_date, "start_date", date.fromisoformat(end) - timedelta(days=30))
    if start > end:
        raise bad_request("start_date is after end_date", param="start_date")
    subject = _subject(principal, key_id)
    rows = await anyio.to_thread.run_sync(ctx.gateway.store.usage, subject, start, end)
    by_model: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = by_model.setdefault(r.model, {"model": r.model, "unit": r.unit, "requests": 0, "units": 0,
                                          "credits_nano": 0})
        m["requests"] += r.requests
        m["units"] += r.units
        m["credits_nano"] += r.credits_nano
    return {
        "object": "usage", "key_id": subject, "start_date": start, "end_date": end,
        "data": [{"date": r.day, "model": r.model, "unit": r.unit, "requests": r.requests, "units": r.units,
                  "credits": from_nano(r.credits_nano)} for r in rows],
        "by_model": [{**{k: v for k, v in m.items() if k != "credits_nano"}, "credits": from_nano(m["credits_nano"])}
                     for m in by_model.values()],
        "total": {"requests": sum(r.requests for r in rows),
                  "credits": from_nano(sum(r.credits_nano for r in rows))},
    }


@router.get("/v1/credits")
async def get_credits(request: Request, key_id: str | None = None,
                      principal: Principal = Depends(require_key)) -> dict[str, Any]:
    ctx = get_ctx(request)
    subject = _subject(principal, key_id)
    balance, spent = await anyio.to_thread.run_sync(ctx.gateway.store.balance, subject)
    return {"object": "credits", "key_id": subject, "unlimited": balance is None,
            "balance": None if balance is None else from_nano(balance), "used": from_nano(spent)}
