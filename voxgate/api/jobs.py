"""Async transcription jobs: `POST /v1/audio/transcriptions` with `async=true` queues one (202), then
GET /v1/jobs, /v1/jobs/{id}, /v1/jobs/{id}/result and POST /v1/jobs/{id}/cancel. A key sees only its
own jobs: any other job id is a 404."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from voxgate.api.context import get_ctx, jobs_of, require_key
from voxgate.api.uploads import Upload
from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of
from voxgate.jobs import JobRecord, JobService, QueueFull
from voxgate.transcription import TranscriptionRequest, formats_for

router = APIRouter(dependencies=[Depends(require_key)])

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def _public(jobs: JobService, job: JobRecord) -> dict[str, Any]:
    body = job.public()
    body["progress"] = round(jobs.live_progress(job), 4)
    return body


async def submit_job(http: Request, principal: Principal, upload: Upload, request: TranscriptionRequest) -> Response:
    """The `async=true` branch of the transcription endpoints: keep the upload, queue the job, answer 202.

    Nothing is charged here: the job's ledger row is written when it succeeds. An Idempotency-Key on
    this request replays this same 202 (the gateway stores it like any other response)."""
    jobs = jobs_of(get_ctx(http))
    if request.stream:
        raise bad_request("'async' and 'stream' cannot be combined: poll the job or use a webhook instead",
                          param="stream")
    webhook_url = upload.fields.text("webhook_url")
    if webhook_url:
        problem = jobs.check_webhook_url(webhook_url)
        if problem:
            raise bad_request(problem, param="webhook_url", code="invalid_webhook_url")
    if principal.credit_limited and await anyio.to_thread.run_sync(jobs.out_of_credits, principal.key_id):
        raise APIError(402, "insufficient credits: this API key has no credits left for a transcription job",
                       code="insufficient_credits")
    call = call_of(http)
    try:
        job = await anyio.to_thread.run_sync(lambda: jobs.submit(
            key_id=principal.key_id, upload_path=upload.path, filename=upload.filename, size=upload.size,
            request=request, webhook_url=webhook_url, request_id=call.request_id,
            idempotency_key=http.headers.get("idempotency-key")))
    except QueueFull as exc:
        raise APIError(429, f"{exc}; wait for some to finish", code="job_queue_full",
                       headers={"retry-after": "5"}) from None
    call.access.job_id = job.id
    return JSONResponse(job.public(), status_code=202, headers={"location": f"/v1/jobs/{job.id}"})


async def _owned(request: Request, principal: Principal, job_id: str) -> tuple[JobService, JobRecord]:
    jobs = jobs_of(get_ctx(request))
    job = await anyio.to_thread.run_sync(jobs.get, job_id, principal.key_id)
    if job is None:
        raise APIError(404, f"no job {job_id!r} for this API key", code="job_not_found", param="job_id")
    return jobs, job


@router.get("/v1/jobs")
async def list_jobs(request: Request, limit: int = Query(20, ge=1, le=100), status: str | None = Query(None),
                    principal: Principal = Depends(require_key)) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise bad_request(f"status must be one of {', '.join(STATUSES)}", param="status")
    jobs = jobs_of(get_ctx(request))
    found = await anyio.to_thread.run_sync(lambda: jobs.list_for_key(principal.key_id, limit=limit + 1, status=status))
    return {"object": "list", "data": [_public(jobs, j) for j in found[:limit]], "has_more": len(found) > limit}


@router.get("/v1/jobs/{job_id}")
async def retrieve_job(job_id: str, request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    jobs, job = await _owned(request, principal, job_id)
    return _public(jobs, job)


@router.get("/v1/jobs/{job_id}/result")
async def job_result(job_id: str, request: Request, response_format: str | None = Query(None),
                     principal: Principal = Depends(require_key)) -> Response:
    """The transcript in any response_format, rendered from the stored result (default: the job's own)."""
    jobs, job = await _owned(request, principal, job_id)
    if job.status != "succeeded":
        reason = {"queued": "has not started", "running": "is still running"}.get(job.status, f"is {job.status}")
        raise APIError(409, f"job {job.id} {reason}; its result exists once its status is 'succeeded'",
                       code=f"job_{job.status}" if job.status in ("failed", "cancelled") else "job_not_finished")
    fmt = response_format or job.response_format
    formats = formats_for(job.task)
    if fmt not in formats:
        raise bad_request(f"response_format must be one of {', '.join(formats)}, got {fmt!r}", param="response_format")
    def rendered() -> Response:  # rendering and serialising a long transcript: off the event loop
        body, media_type = jobs.render_result(job, fmt)
        if isinstance(body, dict):
            return JSONResponse(body)
        return PlainTextResponse(body, media_type=media_type)

    return await anyio.to_thread.run_sync(rendered)


@router.post("/v1/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """Cancel a queued job at once, or ask a running one to stop (at its next segment). Cancelling a
    cancelled job is a no-op; a finished job cannot be cancelled (409)."""
    jobs, job = await _owned(request, principal, job_id)
    if job.status in ("succeeded", "failed"):
        raise APIError(409, f"job {job.id} already {job.status}", code="job_not_cancellable")
    updated = await anyio.to_thread.run_sync(jobs.cancel, job_id, principal.key_id)
    assert updated is not None
    return _public(jobs, updated)
