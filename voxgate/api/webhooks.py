"""Webhook administration for the calling key: the signing secret, a default URL for its jobs, and the
delivery log with resend."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from voxgate.api.context import get_ctx, jobs_of, require_key
from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.jobs import Delivery, JobService, ResendRefused, SigningSecret
from voxgate.webhooks import SIGNATURE_HEADER

router = APIRouter(dependencies=[Depends(require_key)])

DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class DefaultWebhook(BaseModel):
    url: str | None = None


def _found(delivery: Delivery | None, delivery_id: str) -> dict[str, Any]:
    if delivery is None:
        raise APIError(404, f"no webhook delivery {delivery_id!r} for this API key", code="delivery_not_found")
    return delivery.public()


def _secret_body(jobs: JobService, principal: Principal, secret: SigningSecret) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "webhook.secret", "secret": secret.secret, "scope": "key",
                            "header": SIGNATURE_HEADER,
                            "algorithm": "HMAC-SHA256 over '<t>.<raw body>', hex, as v1= (one per signing secret)"}
    if secret.previous and secret.rotated_at is not None:
        body["previous_valid_until"] = int(secret.rotated_at + jobs.webhooks.secret_grace_s)
    if principal.admin:  # it signs every key's events: never shown to a non-admin key
        body["workspace_secret"] = jobs.workspace_secret
    return body


@router.get("/v1/webhooks/secret")
async def webhook_secret(request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """This key's signing secret: its jobs' events carry a `v1=` signature made with it. Admin keys also get
    the workspace secret, which signs every key's events (for an operator's own receiver)."""
    jobs = jobs_of(get_ctx(request))
    secret = await anyio.to_thread.run_sync(jobs.deliveries.signing_secret, principal.key_id)
    return _secret_body(jobs, principal, secret)


@router.post("/v1/webhooks/secret/rotate")
async def rotate_webhook_secret(request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """A new signing secret for this key; events are signed with the old one too for the grace period
    (VOXGATE_WEBHOOK_SECRET_GRACE_S), so receivers can switch without dropping any."""
    jobs = jobs_of(get_ctx(request))
    get_ctx(request).gateway.keep_secret(request)  # a secret is never stored for idempotent replay
    secret = await anyio.to_thread.run_sync(jobs.deliveries.rotate_secret, principal.key_id)
    return _secret_body(jobs, principal, secret)


@router.get("/v1/webhooks/default")
async def get_default(request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    jobs = jobs_of(get_ctx(request))
    url = await anyio.to_thread.run_sync(jobs.deliveries.default_url, principal.key_id)
    return {"object": "webhook.default", "url": url}


@router.post("/v1/webhooks/default")
async def set_default(body: DefaultWebhook, request: Request,
                      principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """Set (or clear, with null) the URL used by this key's jobs that do not name a webhook_url."""
    jobs = jobs_of(get_ctx(request))
    if body.url is not None:
        problem = jobs.check_webhook_url(body.url)
        if problem:
            raise bad_request(problem, param="url", code="invalid_webhook_url")
    await anyio.to_thread.run_sync(jobs.deliveries.set_default_url, principal.key_id, body.url)
    return {"object": "webhook.default", "url": body.url}


@router.get("/v1/webhooks/deliveries")
async def list_deliveries(request: Request, job_id: str | None = Query(None), status: str | None = Query(None),
                          limit: int = Query(20, ge=1, le=100),
                          principal: Principal = Depends(require_key)) -> dict[str, Any]:
    if status is not None and status not in DELIVERY_STATUSES:
        raise bad_request(f"status must be one of {', '.join(DELIVERY_STATUSES)}", param="status")
    jobs = jobs_of(get_ctx(request))
    found = await anyio.to_thread.run_sync(
        lambda: jobs.deliveries.list(principal.key_id, job_id=job_id, status=status, limit=limit + 1))
    return {"object": "list", "data": [d.public() for d in found[:limit]], "has_more": len(found) > limit}


@router.get("/v1/webhooks/deliveries/{delivery_id}")
async def retrieve_delivery(delivery_id: str, request: Request,
                            principal: Principal = Depends(require_key)) -> dict[str, Any]:
    jobs = jobs_of(get_ctx(request))
    return _found(await anyio.to_thread.run_sync(jobs.deliveries.get, delivery_id, principal.key_id), delivery_id)


@router.post("/v1/webhooks/deliveries/{delivery_id}/resend")
async def resend_delivery(delivery_id: str, request: Request,
                          principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """Queue the same event (same id and body, freshly signed) as a new delivery with its own retries."""
    jobs = jobs_of(get_ctx(request))
    try:
        found = await anyio.to_thread.run_sync(jobs.resend, delivery_id, principal.key_id)
    except ResendRefused as exc:
        raise APIError(429, str(exc), code="resend_limit") from None
    return _found(found, delivery_id)
