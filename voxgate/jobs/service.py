"""Async transcription jobs as one service: submit an upload with its validated request, run it through
the transcription service in the background, store the result, meter it and announce it by signed webhook.

Built once per app; the routers only translate HTTP to these calls. Storage is behind the JobStore and
DeliveryStore interfaces, so another backend needs no change here."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from voxgate.config import JobSettings, WebhookSettings
from voxgate.errors import APIError
from voxgate.gateway.pricing import UNITS, cost_nano
from voxgate.jobs.runner import JobControl, JobFailure, JobRunner
from voxgate.jobs.sender import WebhookSender, load_or_create_secret, new_event
from voxgate.store.interfaces import (
    Charge,
    DeliveryStore,
    GatewayStore,
    InsufficientCredits,
    JobEnd,
    JobRecord,
    JobStore,
    OutboundEvent,
)
from voxgate.store.jobs import new_job_id
from voxgate.transcript import Transcript, dump_transcript, load_transcript
from voxgate.transcription import Fields, Task, TranscriptionRequest, TranscriptionService, billable_seconds, render

log = logging.getLogger("voxgate.jobs")


class JobService:
    def __init__(self, settings: JobSettings, webhooks: WebhookSettings, store: JobStore, deliveries: DeliveryStore,
                 transcription: TranscriptionService, jobs_dir: Path, data_dir: Path,
                 credit_store: GatewayStore | None = None) -> None:
        self.settings = settings
        self.webhooks = webhooks
        self.store = store
        self.deliveries = deliveries
        self.transcription = transcription
        self.credit_store = credit_store  # the gateway's store (reserve, balance), if credits are enforced
        self.jobs_dir = jobs_dir
        self.secret = load_or_create_secret(data_dir, webhooks.secret)
        self.sender = WebhookSender(deliveries, webhooks, self.secret)
        self.runner = JobRunner(store, self, settings)

    def start(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.sender.start()
        if self.settings.workers > 0:
            self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        self.sender.stop()

    # ---- submit and query (called from the routers, off the event loop) ----

    def submit(self, *, key_id: str, upload_path: Path, filename: str | None, size: int,
               request: TranscriptionRequest, webhook_url: str | None, request_id: str | None,
               idempotency_key: str | None) -> JobRecord:
        """Move the upload into the job's directory and queue the job (with the key's default webhook)."""
        job_id = new_job_id()
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True, exist_ok=True)
        input_path = job_dir / "input"
        os.replace(upload_path, input_path)
        try:
            job = self.store.create(JobRecord(
                id=job_id, key_id=key_id, status="queued", task=request.task, model=request.model,
                response_format=request.response_format, words=request.words,
                request=request.model_copy(update={"stream": False}).to_json(), input_path=str(input_path),
                filename=filename, input_bytes=size, webhook_url=webhook_url or self.deliveries.default_url(key_id),
                request_id=request_id, idempotency_key=idempotency_key))
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        self.runner.wake()
        return job

    def out_of_credits(self, key_id: str) -> bool:
        """A key whose balance is already spent: refuse the job now (402) instead of failing it later.
        The exact cost is held when the job runs and its audio length is known."""
        if self.credit_store is None:
            return False
        balance, _ = self.credit_store.balance(key_id)
        return balance is not None and balance <= 0

    def get(self, job_id: str, key_id: str) -> JobRecord | None:
        return self.store.get(job_id, key_id)

    def list_for_key(self, key_id: str, *, limit: int, status: str | None) -> list[JobRecord]:
        return self.store.list_for_key(key_id, limit=limit, status=status)

    def live_progress(self, job: JobRecord) -> float:
        """Progress as the runner sees it now (the stored value lags by up to a heartbeat)."""
        current = self.runner.progress_of(job.id) if job.status == "running" else None
        return max(job.progress, current or 0.0)

    def cancel(self, job_id: str, key_id: str) -> JobRecord | None:
        job = self.store.cancel(job_id, key_id)
        if job is None:
            return None
        if job.status == "running":
            self.runner.request_cancel(job_id)
        elif job.status == "cancelled":
            self._discard_input(job)
        return job

    def render_result(self, job: JobRecord, response_format: str) -> tuple[str | dict[str, Any], str]:
        assert job.result is not None
        transcript = load_transcript(job.result)
        speakers = any(s.speaker for s in transcript.segments)
        return render(transcript, response_format, words=job.words, speakers=speakers)

    # ---- JobHooks: what the runner calls ----

    def execute(self, job: JobRecord, control: JobControl) -> Transcript:
        """Decode, hold the cost, transcribe: the synchronous endpoint's steps, in a runner thread."""
        request = self.request_of(job)
        audio = self.transcription.load_audio(Path(job.input_path))
        try:
            self._reserve_credits(job, request, audio.duration)
            control.progress(0.0)

            def on_progress(done: float, total: float) -> None:
                control.progress(done / total if total > 0 else 0.0)

            return self.transcription.transcribe(audio, request.for_storage(), on_progress=on_progress,
                                                 cancel=control.stop, label=job.id)
        finally:
            audio.close()

    def request_of(self, job: JobRecord) -> TranscriptionRequest:
        """The job's stored request; a job queued by a version that stored raw form fields is parsed now."""
        try:
            return TranscriptionRequest.from_json(job.request)
        except ValidationError:
            task: Task = "translate" if job.task == "translate" else "transcribe"
            return self.transcription.parse(Fields(_legacy_fields(job.request)), task)

    def _reserve_credits(self, job: JobRecord, request: TranscriptionRequest, duration: float) -> None:
        """Hold the job's cost on a key with a balance, as the synchronous endpoint does before inference."""
        if self.credit_store is None:
            return
        units = billable_seconds(duration)
        spec = self.transcription.model(request)
        cost = cost_nano(spec, units)
        if cost <= 0:
            return
        try:
            self.credit_store.reserve(job.key_id, job.id, cost)
        except InsufficientCredits:
            raise JobFailure(f"insufficient credits: this job costs {cost / 1e9:g} credits ({units} seconds of "
                             f"{spec.id})", code="insufficient_credits", type="insufficient_credits") from None

    def succeed(self, job: JobRecord, owner: str, transcript: Transcript) -> JobRecord | None:
        units = billable_seconds(transcript.duration)

        def charge_and_announce(done: JobRecord) -> JobEnd:
            spec = self.transcription.catalog.resolve(done.model)
            charge = Charge(key_id=done.key_id, request_id=done.request_id or done.id, model=done.model,
                            unit=UNITS["transcription"], units=units,
                            credits_nano=cost_nano(spec, units) if spec is not None else 0,
                            idempotency_key=done.idempotency_key)
            return JobEnd(charge=charge, webhook=self._event(done, "transcription.job.succeeded"))

        record = self.store.succeed(job.id, owner, dump_transcript(transcript), transcript.duration, units,
                                    follow=charge_and_announce)
        self._ended(record)
        return record

    def finish(self, job: JobRecord, owner: str, status: str, error: dict[str, Any] | None) -> JobRecord | None:
        def announce_failure(done: JobRecord) -> JobEnd:
            return JobEnd(webhook=self._event(done, "transcription.job.failed") if status == "failed" else None)

        record = self.store.finish(job.id, owner, status, error, follow=announce_failure)
        self._ended(record)
        return record

    def recovered(self, touched: list[tuple[JobRecord, str]]) -> None:
        for job, outcome in touched:
            if outcome == "failed":
                self.store.close_out(job.id, JobEnd(webhook=self._event(job, "transcription.job.failed")))
                self._discard_input(job)
        self.sender.wake()

    def describe(self, exc: BaseException) -> dict[str, Any] | None:
        if isinstance(exc, JobFailure):
            return exc.error
        if isinstance(exc, APIError):
            return {"message": exc.message, "type": exc.type, "code": exc.code}
        return None

    # ---- helpers ----

    def _event(self, job: JobRecord, event_type: str) -> OutboundEvent | None:
        if not job.webhook_url:
            return None
        return OutboundEvent(key_id=job.key_id, url=job.webhook_url, event=new_event(event_type, job.public()),
                             job_id=job.id, max_attempts=self.webhooks.max_attempts)

    def _ended(self, record: JobRecord | None) -> None:
        if record is not None:
            self._discard_input(record)
            self.sender.wake()

    def _discard_input(self, job: JobRecord) -> None:
        shutil.rmtree(self.jobs_dir / job.id, ignore_errors=True)


def _legacy_fields(text: str) -> dict[str, list[Any]]:
    values = json.loads(text)
    return {str(k): list(v) for k, v in values.items()} if isinstance(values, dict) else {}
