"""What the sync and async clients share: configuration, model pinning and the retry decision."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from voxgate import __version__
from voxgate.sdk._calls import Call
from voxgate.sdk._retry import RetryPolicy
from voxgate.sdk.errors import (
    APIStatusError,
    ConnectionError,
    PipelineMismatchError,
    TimeoutError,
    VoxgateError,
    error_from_response,
)

log = logging.getLogger("voxgate.sdk")

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)


def normalize_base_url(url: str) -> str:
    """`http://host:8000` means the server root: add `/v1`; any other path is kept as given."""
    url = url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url + "/"


class Transient(Exception):
    """An attempt failed in a way a retry may fix; `error` is what the caller sees if none is left."""

    def __init__(self, error: VoxgateError, response: httpx.Response | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.response = response


def connection_error(exc: httpx.TransportError, response: httpx.Response | None = None) -> ConnectionError:
    request_id = response.headers.get("x-request-id") if response is not None else None
    cls = TimeoutError if isinstance(exc, httpx.TimeoutException) else ConnectionError
    return cls(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, request_id=request_id)


class BaseClient:
    """Settings read from arguments, then VOXGATE_API_KEY / VOXGATE_BASE_URL / VOXGATE_WEBHOOK_SECRET."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        pipeline_id: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("VOXGATE_API_KEY")
        if not api_key:
            raise VoxgateError("no API key: pass api_key=... or set VOXGATE_API_KEY")
        self.api_key = api_key
        self.base_url = normalize_base_url(base_url or os.environ.get("VOXGATE_BASE_URL") or DEFAULT_BASE_URL)
        self.pipeline_id = pipeline_id
        self.timeout = timeout
        self.retry_policy = RetryPolicy(max_retries=max_retries)
        self.webhook_secret = webhook_secret or os.environ.get("VOXGATE_WEBHOOK_SECRET")
        self.default_headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"voxgate-python/{__version__}",
            **(default_headers or {}),
        }

    @property
    def max_retries(self) -> int:
        return self.retry_policy.max_retries

    def resolve_model(self, model: str | None) -> str:
        """The model to send: the pinned pipeline, or the call's own model."""
        if self.pipeline_id is None:
            if not model:
                raise VoxgateError("model is required (or create the client with pipeline_id=...)")
            return model
        if model is not None and model != self.pipeline_id:
            raise PipelineMismatchError(
                f"this client is locked to pipeline {self.pipeline_id!r}; the call asked for model {model!r}"
            )
        return self.pipeline_id

    def retry_delay(self, call: Call[Any], attempt: int, failure: Transient) -> float | None:
        if not call.replay_safe:
            return None
        delay = self.retry_policy.delay(attempt, failure.response)
        if delay is not None:
            log.info("retrying %s %s in %.2fs (attempt %d): %s", call.method, call.path, delay, attempt + 1,
                     failure.error)
        return delay

    @staticmethod
    def check(response: httpx.Response, retryable: bool) -> None:
        """Raise for an error status (body already read): Transient when a retry may fix it."""
        if not response.is_error:
            return
        error: APIStatusError = error_from_response(response)
        if retryable:
            raise Transient(error, response)
        raise error
