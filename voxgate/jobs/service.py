"""Async transcription jobs as one service: submit an upload with its validated request, run it through
the transcription service in the background, store the result, meter it and announce it by signed webhook.

Built once per app; the routers only translate HTTP to these calls. Storage is behind the JobStore and
DeliveryStore interfaces, so another backend needs no change here."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from voxgate.config import JobSettings, WebhookSettings
from voxgate.errors import APIError
from voxgate.gateway.pricing import UNITS, cost_nano, decoding_hold, price_nano
from voxgate.jobs.runner import JobControl, JobFailure, JobRunner
from voxgate.jobs.sender import Signer, WebhookSender, address_policy, load_or_create_secret, new_event, validate_url
from voxgate.store.interfaces import (
    Charge,
    Delivery,
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
        self.on_units: Callable[[str, str, int], None] | None = None  # (model, unit, units) of a charged job
        self.jobs_dir = jobs_dir
        self.workspace_secret = load_or_create_secret(data_dir, webhooks.secret)
        self.signer = Signer(deliveries, self.workspace_secret, webhooks.secret_grace_s)
        self.sender = WebhookSender(deliveries, webhooks, self.signer)
        self.address_policy = address_policy(webhooks)
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
        limits = self.settings
        try:
            job = self.store.create(JobRecord(
                id=job_id, key_id=key_id, status="queued", task=request.task, model=request.model,
                response_format=request.response_format, words=request.words,
                request=request.model_copy(update={"stream": False}).to_json(), input_path=str(input_path),
                filename=filename, input_bytes=size, webhook_url=webhook_url or self.deliveries.default_url(key_id),
                request_id=request_id, idempotency_key=idempotency_key), limits.max_queued_per_key,
                limits.max_queued_bytes_per_key)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        self.runner.wake()
        return job

    def purge_expired(self) -> int:
        """Delete jobs that ended more than `retention_days` ago, with their results, inputs and delivery logs."""
        removed = self.store.purge_finished(time.time() - self.settings.retention_days * 86400)
        for job_id in removed:
            shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
        if removed:
            log.info("deleted %d jobs past their retention of %g days", len(removed), self.settings.retention_days)
        return len(removed)

    def check_webhook_url(self, url: str) -> str | None:
        """Why `url` cannot receive this server's webhooks (for a 400), or None."""
        return validate_url(url, self.address_policy)

    def resend(self, delivery_id: str, key_id: str) -> Delivery | None:
        """Queue the delivery's event again (ResendRefused over the limits) and wake the sender."""
        limits = self.webhooks
        found = self.deliveries.resend(delivery_id, key_id, limits.max_resends, limits.max_pending_per_key)
        if found is not None:
            self.sender.wake()
        return found

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
        covered = self._hold_before_decoding(job, request)
        try:
            audio = self.transcription.load_audio(Path(job.input_path), covered)
        except APIError as exc:
            if exc.code == "audio_too_long" and covered is not None:
                raise JobFailure(f"insufficient credits: the audio is longer than the {covered:g} s this key's "
                                 "credits cover", code="insufficient_credits", type="insufficient_credits") from None
            raise
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

    def _hold_before_decoding(self, job: JobRecord, request: TranscriptionRequest) -> float | None:
        """As the synchronous endpoint does: hold credits for the most the input may decode to, and return the
        seconds the decoder may produce (None: the server's limit). A balance short of the duration the
        header declares fails the job before anything is decoded."""
        spec = self.transcription.model(request)
        if self.credit_store is None or price_nano(spec) <= 0:
            return None
        limit = self.transcription.max_audio_seconds or float("inf")
        declared = self.transcription.declared_seconds(Path(job.input_path))
        want, need = decoding_hold(spec, declared, limit)
        try:
            held = self.credit_store.reserve(job.key_id, job.id, want, need)
        except InsufficientCredits:
            raise JobFailure(f"insufficient credits: this job needs at least {need / 1e9:g} credits before its "
                             f"audio is decoded", code="insufficient_credits", type="insufficient_credits") from None
        return None if held is None else min(limit, held // price_nano(spec))

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
        if record is not None and self.on_units is not None:
            self.on_units(record.model, UNITS["transcription"], units)
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
