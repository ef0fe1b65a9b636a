"""GET /v1/usage (the calling key's metered usage by day and model, from the ledger) and GET /v1/credits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request

from voxgate.api.context import get_ctx, require_key
from voxgate.errors import bad_request
from voxgate.gateway.auth import Principal

router = APIRouter(dependencies=[Depends(require_key)])


def _day(value: str | None, name: str, default: date) -> str:
    if not value:
        return default.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise bad_request(f"{name} must be a date like 2025-01-31, got {value[:40]!r}", param=name) from None


@router.get("/v1/usage")
async def get_usage(request: Request, start_date: str | None = None, end_date: str | None = None,
                    key_id: str | None = None, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    accounts = get_ctx(request).accounts
    today = datetime.now(UTC).date()
    end = _day(end_date, "end_date", today)
    start = _day(start_date, "start_date", date.fromisoformat(end) - timedelta(days=30))
    if start > end:
        raise bad_request("start_date is after end_date", param="start_date")
    subject = accounts.subject(principal, key_id)
    return await anyio.to_thread.run_sync(accounts.usage, subject, start, end)


@router.get("/v1/credits")
async def get_credits(request: Request, key_id: str | None = None,
                      principal: Principal = Depends(require_key)) -> dict[str, Any]:
    accounts = get_ctx(request).accounts
    return await anyio.to_thread.run_sync(accounts.credits, accounts.subject(principal, key_id))
