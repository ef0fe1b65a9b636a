"""Async transcription jobs: `POST /v1/audio/transcriptions` with `async=true` queues one (202), then
GET /v1/jobs, /v1/jobs/{id}, /v1/jobs/{id}/result and POST /v1/jobs/{id}/cancel. A key sees only its
own jobs: any other job id is a 404."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.errors import APIError, bad_request
from voxgate.api.uploads import Upload
from voxgate.asr.formats import ALL_FORMATS
from voxgate.asr.service import TranscriptionParams
from voxgate.gateway.auth import Principal
from voxgate.jobs.deliveries import validate_url
from voxgate.jobs.service import JobService
from voxgate.jobs.store import JobRecord

router = APIRouter(dependencies=[Depends(require_key)])

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def jobs_of(ctx: AppContext) -> JobService:
    jobs: JobService | None = getattr(ctx, "jobs", None)
    if jobs is None:
        raise APIError(503, "async jobs are not enabled on this server", code="jobs_unavailable", type="server_error")
    return jobs


def current_principal(request: Request) -> Principal:
    """The caller, as authenticated by the router's `require_key` dependency."""
    state = request.scope.get("state", {})
    principal = state.get("principal")
    if isinstance(principal, Principal):
        return principal
    gateway = state.get("gateway")
    if gateway is not None and getattr(gateway, "principal", None) is not None:
        return gateway.principal  # type: ignore[no-any-return]
    key_id = state.get("access", {}).get("key_id")
    if not key_id:
        raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    return Principal(key_id=key_id, name="")


def _public(jobs: JobService, job: JobRecord) -> dict[str, Any]:
    body = job.public()
    body["progress"] = round(jobs.live_progress(job), 4)
    return body


async def submit_job(request: Request, upload: Upload, params: TranscriptionParams, task: str) -> Response:
    """The `async=true` branch of the transcription endpoints: keep the upload, queue the job, answer 202.

    Nothing is charged here: the job's ledger row is written when it succeeds. An Idempotency-Key on
    this request replays this same 202 (the gateway stores it like any other response)."""
    ctx = get_ctx(request)
    jobs = jobs_of(ctx)
    if params.stream:
        raise bad_request("'async' and 'stream' cannot be combined: poll the job or use a webhook instead",
                          param="stream")
    webhook_url = upload.fields.str("webhook_url")
    if webhook_url:
        problem = validate_url(webhook_url)
        if problem:
            raise bad_request(problem, param="webhook_url", code="invalid_webhook_url")
    principal = current_principal(request)
    if getattr(principal, "credit_limited", False) and await anyio.to_thread.run_sync(jobs.out_of_credits,
                                                                                    principal.key_id):
        raise APIError(402, "insufficient credits: this API key has no credits left for a transcription job",
                       code="insufficient_credits")
    state = request.scope.get("state", {})
    job = await anyio.to_thread.run_sync(lambda: jobs.submit(
        key_id=principal.key_id, upload_path=upload.path, filename=upload.filename, size=upload.size,
        fields=upload.fields, params=params, task=task, request_id=state.get("request_id"),
        idempotency_key=request.headers.get("idempotency-key")))
    state.setdefault("access", {})["job_id"] = job.id
    return JSONResponse(job.public(), status_code=202, headers={"location": f"/v1/jobs/{job.id}"})


async def _owned(request: Request, job_id: str) -> tuple[JobService, JobRecord]:
    jobs = jobs_of(get_ctx(request))
    principal = current_principal(request)
    job = await anyio.to_thread.run_sync(jobs.get, job_id, principal.key_id)
    if job is None:
        raise APIError(404, f"no job {job_id!r} for this API key", code="job_not_found", param="job_id")
    return jobs, job


@router.get("/v1/jobs")
async def list_jobs(request: Request, limit: int = Query(20, ge=1, le=100),
                    status: str | None = Query(None)) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise bad_request(f"status must be one of {', '.join(STATUSES)}", param="status")
    jobs = jobs_of(get_ctx(request))
    principal = current_principal(request)
    found = await anyio.to_thread.run_sync(
        lambda: jobs.store.list_for_key(principal.key_id, limit=limit + 1, status=status))
    return {"object": "list", "data": [_public(jobs, j) for j in found[:limit]], "has_more": len(found) > limit}


@router.get("/v1/jobs/{job_id}")
async def retrieve_job(job_id: str, request: Request) -> dict[str, Any]:
    jobs, job = await _owned(request, job_id)
    return _public(jobs, job)


@router.get("/v1/jobs/{job_id}/result")
async def job_result(job_id: str, request: Request, response_format: str | None = Query(None)) -> Response:
    """The transcript in any response_format, rendered from the stored result (default: the job's own)."""
    jobs, job = await _owned(request, job_id)
    if job.status != "succeeded":
        reason = {"queued": "has not started", "running": "is still running"}.get(job.status, f"is {job.status}")
        raise APIError(409, f"job {job.id} {reason}; its result exists once its status is 'succeeded'",
                       code=f"job_{job.status}" if job.status in ("failed", "cancelled") else "job_not_finished")
    fmt = response_format or job.response_format
    formats = ALL_FORMATS if job.task == "transcribe" else tuple(f for f in ALL_FORMATS if f != "diarized_json")
    if fmt not in formats:
        raise bad_request(f"response_format must be one of {', '.join(formats)}, got {fmt!r}", param="response_format")
    body, media_type = await anyio.to_thread.run_sync(jobs.render_result, job, fmt)
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=media_type)


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    """Cancel a queued job at once, or ask a running one to stop (at its next segment). Cancelling a
    cancelled job is a no-op; a finished job cannot be cancelled (409)."""
    jobs, job = await _owned(request, job_id)
    if job.status in ("succeeded", "failed"):
        raise APIError(409, f"job {job.id} already {job.status}", code="job_not_cancellable")
    principal = current_principal(request)
    updated = await anyio.to_thread.run_sync(jobs.cancel, job_id, principal.key_id)
    assert updated is not None
    return _public(jobs, updated)
