"""GET /metrics: Prometheus' text format. Open to clients on this machine by default; from elsewhere it needs an
admin key (`VOXGATE_METRICS_ACCESS`: loopback, admin or open)."""

from __future__ import annotations

import ipaddress

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from voxgate.api.context import get_ctx
from voxgate.errors import APIError
from voxgate.metrics import CONTENT_TYPE

router = APIRouter()


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    ctx = get_ctx(request)
    access = ctx.settings.metrics.access
    if access == "admin" or (access == "loopback" and not _loopback(request)):
        principal = await anyio.to_thread.run_sync(ctx.gateway.identify_token,
                                                   request.headers.get("authorization", ""))
        if principal is None:
            raise APIError(401, "metrics need an admin API key from outside this machine", code="invalid_api_key")
        if not principal.admin:
            raise APIError(403, "metrics need an admin API key", code="forbidden")
    body = await anyio.to_thread.run_sync(ctx.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
