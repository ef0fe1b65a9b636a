"""Async jobs and signed webhooks, the resources voxgate adds to the openai SDK's surface: `client.jobs` and
`client.webhooks`, sync and async."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import anyio

from voxgate import webhooks as _webhooks
from voxgate.sdk import _calls
from voxgate.sdk._calls import UNSET, Options, TimeoutTypes, TranscriptionResult
from voxgate.sdk._calls import options as _options
from voxgate.sdk._files import FileTypes
from voxgate.sdk.errors import TimeoutError as VoxgateTimeoutError
from voxgate.sdk.types import Job, Page, WebhookDefault, WebhookDelivery, WebhookSecret

if TYPE_CHECKING:
    from voxgate.sdk._async_client import AsyncClient
    from voxgate.sdk._client import Client


class Jobs:
    """Async transcription jobs: submit, poll (or get a webhook), fetch the result in any format."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        *,
        file: FileTypes,
        model: str | None = None,
        response_format: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        timestamp_granularities: Sequence[Literal["word", "segment"]] | None = None,
        known_speaker_names: Sequence[str] | None = None,
        known_speaker_references: Sequence[FileTypes | str] | None = None,
        diarize: bool | None = None,
        redact: bool | str | Sequence[str] | None = None,
        webhook_url: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = UNSET,
        idempotency_key: str | None = None,
    ) -> Job:
        """Queue a transcription (`async=true`); returns at once with the queued job."""
        form = _calls.transcription_form(
            model=self._client.resolve_model(model), language=language, prompt=prompt, temperature=temperature,
            timestamp_granularities=timestamp_granularities, known_speaker_names=known_speaker_names,
            known_speaker_references=known_speaker_references, diarize=diarize, redact=redact)
        call = _calls.job_create_call(file=file, form=form, response_format=response_format, webhook_url=webhook_url,
                                      options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return self._client.request(call)

    def retrieve(self, job_id: str, *, timeout: TimeoutTypes = UNSET) -> Job:
        return self._client.request(_calls.job_retrieve_call(job_id, _options(None, None, timeout)))

    def list(self, *, limit: int | None = None, status: str | None = None,
             timeout: TimeoutTypes = UNSET) -> Page[Job]:
        """This key's jobs, newest first."""
        return self._client.request(_calls.job_list_call(limit=limit, status=status,
                                                         options=_options(None, None, timeout)))

    def cancel(self, job_id: str, *, timeout: TimeoutTypes = UNSET) -> Job:
        return self._client.request(_calls.job_cancel_call(job_id, _options(None, None, timeout)))

    def result(self, job_id: str, *, response_format: str | None = None,
               timeout: TimeoutTypes = UNSET) -> TranscriptionResult:
        """The finished transcript, rendered in any response_format (default: the job's own)."""
        return self._client.request(
            _calls.job_result_call(job_id, response_format, _options(None, None, timeout)))

    def wait(self, job_id: str, *, poll_interval: float = 1.0, timeout: float | None = None) -> Job:
        """Poll until the job succeeds, fails or is cancelled; raises voxgate TimeoutError after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.retrieve(job_id)
            if job.done:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise VoxgateTimeoutError(f"job {job_id} still {job.status} after {timeout} s",
                                          request_id=job.request_id)
            time.sleep(poll_interval)


class WebhookDeliveries:
    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, *, job_id: str | None = None, status: str | None = None,
             limit: int | None = None) -> Page[WebhookDelivery]:
        """Deliveries of this key's events, newest first, each with its attempt log."""
        return self._client.request(_calls.deliveries_list_call(job_id=job_id, status=status, limit=limit,
                                                                options=Options()))

    def resend(self, delivery_id: str) -> WebhookDelivery:
        """Send the delivery's event again (a new delivery with fresh retries)."""
        return self._client.request(_calls.delivery_resend_call(delivery_id, Options()))


class Webhooks:
    def __init__(self, client: Client) -> None:
        self._client = client
        self.deliveries = WebhookDeliveries(client)

    def secret(self) -> WebhookSecret:
        """This key's signing secret, for receivers that verify its events (admin keys: also the workspace's)."""
        return self._client.request(_calls.webhook_secret_call(Options()))

    def rotate_secret(self) -> WebhookSecret:
        """A new signing secret for this key; the old one keeps signing for the server's grace period."""
        return self._client.request(_calls.webhook_secret_rotate_call(Options()))

    def get_default(self) -> WebhookDefault:
        """This key's default webhook_url (used by jobs that do not name one)."""
        return self._client.request(_calls.webhook_default_get_call(Options()))

    def set_default(self, url: str | None) -> WebhookDefault:
        return self._client.request(_calls.webhook_default_set_call(url, Options()))

    def verify_signature(self, payload: str | bytes, header: str | Mapping[str, str] | None, *,
                         secret: str | None = None, tolerance: float | None = _webhooks.DEFAULT_TOLERANCE) -> int:
        """See `voxgate.webhooks.verify_signature`; the secret defaults to the client's `webhook_secret`."""
        return _webhooks.verify_signature(payload, header, secret or self._client.webhook_secret or "", tolerance)

    def construct_event(self, payload: str | bytes, header: str | Mapping[str, str] | None, *,
                        secret: str | None = None,
                        tolerance: float | None = _webhooks.DEFAULT_TOLERANCE) -> dict[str, Any]:
        return _webhooks.construct_event(payload, header, secret or self._client.webhook_secret or "", tolerance)


class AsyncJobs:
    """Async transcription jobs: submit, poll (or get a webhook), fetch the result in any format."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        file: FileTypes,
        model: str | None = None,
        response_format: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        timestamp_granularities: Sequence[Literal["word", "segment"]] | None = None,
        known_speaker_names: Sequence[str] | None = None,
        known_speaker_references: Sequence[FileTypes | str] | None = None,
        diarize: bool | None = None,
        redact: bool | str | Sequence[str] | None = None,
        webhook_url: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = UNSET,
        idempotency_key: str | None = None,
    ) -> Job:
        """Queue a transcription (`async=true`); returns at once with the queued job."""
        form = _calls.transcription_form(
            model=self._client.resolve_model(model), language=language, prompt=prompt, temperature=temperature,
            timestamp_granularities=timestamp_granularities, known_speaker_names=known_speaker_names,
            known_speaker_references=known_speaker_references, diarize=diarize, redact=redact)
        call = _calls.job_create_call(file=file, form=form, response_format=response_format, webhook_url=webhook_url,
                                      options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return await self._client.request(call)

    async def retrieve(self, job_id: str, *, timeout: TimeoutTypes = UNSET) -> Job:
        return await self._client.request(_calls.job_retrieve_call(job_id, _options(None, None, timeout)))

    async def list(self, *, limit: int | None = None, status: str | None = None,
             timeout: TimeoutTypes = UNSET) -> Page[Job]:
        """This key's jobs, newest first."""
        return await self._client.request(_calls.job_list_call(limit=limit, status=status,
                                                         options=_options(None, None, timeout)))

    async def cancel(self, job_id: str, *, timeout: TimeoutTypes = UNSET) -> Job:
        return await self._client.request(_calls.job_cancel_call(job_id, _options(None, None, timeout)))

    async def result(self, job_id: str, *, response_format: str | None = None,
               timeout: TimeoutTypes = UNSET) -> TranscriptionResult:
        """The finished transcript, rendered in any response_format (default: the job's own)."""
        return await self._client.request(
            _calls.job_result_call(job_id, response_format, _options(None, None, timeout)))

    async def wait(self, job_id: str, *, poll_interval: float = 1.0, timeout: float | None = None) -> Job:
        """Poll until the job succeeds, fails or is cancelled; raises voxgate TimeoutError after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self.retrieve(job_id)
            if job.done:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise VoxgateTimeoutError(f"job {job_id} still {job.status} after {timeout} s",
                                          request_id=job.request_id)
            await anyio.sleep(poll_interval)


class AsyncWebhookDeliveries:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, job_id: str | None = None, status: str | None = None,
             limit: int | None = None) -> Page[WebhookDelivery]:
        """Deliveries of this key's events, newest first, each with its attempt log."""
        return await self._client.request(_calls.deliveries_list_call(job_id=job_id, status=status, limit=limit,
                                                                options=Options()))

    async def resend(self, delivery_id: str) -> WebhookDelivery:
        """Send the delivery's event again (a new delivery with fresh retries)."""
        return await self._client.request(_calls.delivery_resend_call(delivery_id, Options()))


class AsyncWebhooks:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.deliveries = AsyncWebhookDeliveries(client)

    async def secret(self) -> WebhookSecret:
        """This key's signing secret, for receivers that verify its events (admin keys: also the workspace's)."""
        return await self._client.request(_calls.webhook_secret_call(Options()))

    async def rotate_secret(self) -> WebhookSecret:
        """A new signing secret for this key; the old one keeps signing for the server's grace period."""
        return await self._client.request(_calls.webhook_secret_rotate_call(Options()))

    async def get_default(self) -> WebhookDefault:
        """This key's default webhook_url (used by jobs that do not name one)."""
        return await self._client.request(_calls.webhook_default_get_call(Options()))

    async def set_default(self, url: str | None) -> WebhookDefault:
        return await self._client.request(_calls.webhook_default_set_call(url, Options()))

    def verify_signature(self, payload: str | bytes, header: str | Mapping[str, str] | None, *,
                         secret: str | None = None, tolerance: float | None = _webhooks.DEFAULT_TOLERANCE) -> int:
        """See `voxgate.webhooks.verify_signature`; the secret defaults to the client's `webhook_secret`."""
        return _webhooks.verify_signature(payload, header, secret or self._client.webhook_secret or "", tolerance)

    def construct_event(self, payload: str | bytes, header: str | Mapping[str, str] | None, *,
                        secret: str | None = None,
                        tolerance: float | None = _webhooks.DEFAULT_TOLERANCE) -> dict[str, Any]:
        return _webhooks.construct_event(payload, header, secret or self._client.webhook_secret or "", tolerance)
