"""Async transcription jobs as one service: submit an upload, run it through the transcription service
in the background, store the result, meter it and announce it by signed webhook.

Built once per app (`ctx.jobs`); the routers only translate HTTP to these calls."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from voxgate.errors import APIError
from voxgate.api.fields import Fields
from voxgate.asr.formats import billable_seconds, render
from voxgate.asr.service import TranscriptionParams, TranscriptionService
from voxgate.asr.types import Transcript
from voxgate.audio.decode import AudioDecodeError
from voxgate.config import Settings
from voxgate.jobs.deliveries import DeliveryPolicy, DeliveryStore, WebhookSender, load_or_create_secret, new_event
from voxgate.jobs.runner import JobControl, JobFailure, JobRunner, RunnerSettings
from voxgate.jobs.store import JobRecord, JobStore, NewJob, new_job_id
from voxgate.jobs.transcripts import dump_transcript, load_transcript
from voxgate.models.catalog import Catalog
from voxgate.store import ledger
from voxgate.store.db import Database
from voxgate.store.interfaces import Charge, InsufficientCredits

log = logging.getLogger("voxgate.jobs")

SAMPLE_RATE = 16000
# Request fields that are not transcription parameters: never stored with the job.
_NOT_PARAMS = ("file", "file_base64", "audio", "async", "stream", "webhook_url")

ParseParams = Callable[[Fields, str], TranscriptionParams]
"""Validate a job's stored fields exactly as the synchronous endpoint does (raises APIError)."""


@dataclass(frozen=True)
class Pricing:
    """How a finished job is charged: `price_nano(spec)` per `unit` (the gateway's own rule)."""

    unit: str
    price_nano: Callable[[Any], int]


def _default_pricing() -> Pricing:
    from voxgate.gateway.policy import UNITS, price_nano

    return Pricing(unit=UNITS["transcription"], price_nano=price_nano)


def audio_seconds(audio: Any) -> float:
    if isinstance(audio, np.ndarray):
        return float(len(audio)) / SAMPLE_RATE
    duration = getattr(audio, "duration", None)
    return float(duration) if duration is not None else 0.0


class JobService:
    def __init__(self, settings: Settings, db: Database, catalog: Catalog, transcription: TranscriptionService,
                 parse_params: ParseParams, credit_store: Any | None = None, pricing: Pricing | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.transcription = transcription
        self.parse_params = parse_params
        self.credit_store = credit_store  # the gateway's GatewayStore (reserve / release_hold), if any
        self.pricing = pricing or _default_pricing()
        self.store = JobStore(db)
        self.db = db
        self.deliveries = DeliveryStore(db, DeliveryPolicy(
            max_attempts=settings.webhook_max_attempts, base_delay_s=settings.webhook_retry_base_s,
            max_delay_s=settings.webhook_retry_max_s, timeout_s=settings.webhook_timeout_s))
        self.secret = load_or_create_secret(settings.data_dir, settings.webhook_secret)
        self.sender = WebhookSender(self.deliveries, self.secret)
        self.runner = JobRunner(self.store, self, RunnerSettings(
            workers=settings.job_workers, lease_s=settings.job_lease_s, poll_s=settings.job_poll_s,
            max_attempts=settings.job_max_attempts))
        self.jobs_dir = settings.data_dir / "jobs"

    def start(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.sender.start()
        if self.settings.job_workers > 0:
            self.runner.start()

    def stop(self) -> None:
        self.runner.stop()
        self.sender.stop()

    # ---- submit and query (called from the routers, off the event loop) ----

    def submit(self, *, key_id: str, upload_path: Path, filename: str | None, size: int, fields: Fields,
               params: TranscriptionParams, task: str, request_id: str | None,
               idempotency_key: str | None) -> JobRecord:
        """Move the upload into the job's directory and queue the job."""
        webhook_url = fields.str("webhook_url") or self.deliveries.default_url(key_id)
        job_id = new_job_id()
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True, exist_ok=True)
        input_path = job_dir / "input"
        os.replace(upload_path, input_path)
        stored = {k: v for k, v in fields.values.items() if k not in _NOT_PARAMS}
        stored["model"] = [params.model.id]
        try:
            job = self.store.create(NewJob(
                id=job_id, key_id=key_id, task=task, model=params.model.id, response_format=params.response_format,
                words=params.words, fields=stored, input_path=str(input_path), filename=filename, input_bytes=size,
                webhook_url=webhook_url, request_id=request_id, idempotency_key=idempotency_key))
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
        params = replace(self.parse_params(Fields(job.fields), job.task), stream=False)
        audio = self.transcription.load_audio(Path(job.input_path))
        try:
            duration = audio_seconds(audio)
            self._reserve_credits(job, params, duration)
            control.progress(0.0)

            def on_progress(done: float, total: float) -> None:
                control.progress(done / total if total > 0 else 0.0)

            return self.transcription.transcribe(audio, params, on_progress=on_progress, cancel=control.stop,
                                                 label=job.id)
        finally:
            close = getattr(audio, "close", None)
            if callable(close):
                close()

    def _reserve_credits(self, job: JobRecord, params: TranscriptionParams, duration: float) -> None:
        """Hold the job's cost on a key with a balance, as the synchronous endpoint does before inference."""
        if self.credit_store is None:
            return
        units = billable_seconds(duration)
        cost = units * self.pricing.price_nano(params.model)
        if cost <= 0:
            return
        try:
            self.credit_store.reserve(job.key_id, job.id, cost)
        except InsufficientCredits:
            raise JobFailure(f"insufficient credits: this job costs {cost / 1e9:g} credits ({units} seconds of "
                             f"{params.model.id})", code="insufficient_credits", type="insufficient_credits") from None

    def succeed(self, job: JobRecord, owner: str, transcript: Transcript) -> JobRecord | None:
        units = billable_seconds(transcript.duration)

        def charge_and_announce(conn: sqlite3.Connection, done: JobRecord) -> None:
            spec = self.catalog.resolve(done.model)
            price = self.pricing.price_nano(spec) if spec is not None else 0
            ledger.charge(conn, Charge(key_id=done.key_id, request_id=done.request_id or done.id, model=done.model,
                                       unit=self.pricing.unit, units=units, credits_nano=units * price,
                                       idempotency_key=done.idempotency_key))
            ledger.release_hold(conn, done.id)
            self._announce(conn, done, "transcription.job.succeeded")

        record = self.store.succeed(job.id, owner, dump_transcript(transcript), transcript.duration, units,
                                    also=charge_and_announce)
        if record is not None:
            self._discard_input(record)
            self.sender.wake()
        return record

    def finish(self, job: JobRecord, owner: str, status: str, error: dict[str, Any] | None) -> JobRecord | None:
        def release_and_announce(conn: sqlite3.Connection, done: JobRecord) -> None:
            ledger.release_hold(conn, done.id)
            if status == "failed":
                self._announce(conn, done, "transcription.job.failed")

        record = self.store.finish(job.id, owner, status, error, also=release_and_announce)
        if record is not None:
            self._discard_input(record)
            self.sender.wake()
        return record

    def recovered(self, touched: list[tuple[JobRecord, str]]) -> None:
        for job, outcome in touched:
            if outcome == "failed":
                with self.db.transaction() as conn:
                    ledger.release_hold(conn, job.id)
                    self._announce(conn, job, "transcription.job.failed")
                self._discard_input(job)
        self.sender.wake()

    def describe(self, exc: BaseException) -> dict[str, Any] | None:
        if isinstance(exc, JobFailure):
            return exc.error
        if isinstance(exc, APIError):
            return {"message": exc.message, "type": exc.type, "code": exc.code}
        if isinstance(exc, AudioDecodeError):
            return {"message": str(exc), "type": "invalid_request_error", "code": "invalid_audio"}
        return None

    # ---- helpers ----

    def _announce(self, conn: sqlite3.Connection, job: JobRecord, event_type: str) -> None:
        if job.webhook_url:
            event = new_event(event_type, job.public())
            self.deliveries.enqueue(conn, key_id=job.key_id, url=job.webhook_url, event=event, job_id=job.id)

    def _discard_input(self, job: JobRecord) -> None:
        shutil.rmtree(self.jobs_dir / job.id, ignore_errors=True)
