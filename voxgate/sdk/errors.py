"""Typed errors: one class per failure a caller handles differently, each carrying the server's fields.

Every error has `status` (None when no response arrived), `type`, `code`, `param` and `request_id`
(the server's `x-request-id`, quote it in bug reports)."""

from __future__ import annotations

import builtins
import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = [
    "VoxgateError",
    "APIStatusError",
    "ValidationError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionError",
    "NotFoundError",
    "IdempotencyConflictError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServerError",
    "ConnectionError",
    "TimeoutError",
    "StreamError",
    "PipelineMismatchError",
    "error_from_response",
    "parse_retry_after",
]


class VoxgateError(Exception):
    """Base of every error the SDK raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"


class APIStatusError(VoxgateError):
    """The server answered with an error status; `body` is the parsed JSON body, if any."""

    status: int

    def __init__(self, message: str, *, response: httpx.Response, body: Any = None, **fields: Any) -> None:
        fields.setdefault("status", response.status_code)
        fields.setdefault("request_id", response.headers.get("x-request-id"))
        super().__init__(message, **fields)
        self.response = response
        self.body = body

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


class ValidationError(APIStatusError):
    """400 (or 415/422): the request itself is wrong; `param` names the field."""


class AuthenticationError(APIStatusError):
    """401: missing_api_key or invalid_api_key."""


class InsufficientCreditsError(APIStatusError):
    """402: the key's credit balance cannot pay for the call."""


class PermissionError(APIStatusError):  # noqa: A001 - the name callers expect; builtins stay reachable
    """403: the key lacks the scope this call needs."""


class NotFoundError(APIStatusError):
    """404: an unknown model (model_not_found), job or route."""


class IdempotencyConflictError(APIStatusError):
    """409 idempotency_in_progress (the first request with this key still runs) or
    422 idempotency_key_reused (the key was used for a different request)."""


class PayloadTooLargeError(APIStatusError):
    """413: the upload exceeds the server's limit."""


class RateLimitError(APIStatusError):
    """429: slow down; `retry_after` is the server's advice in seconds, when it gave one."""

    def __init__(self, message: str, *, response: httpx.Response, body: Any = None, **fields: Any) -> None:
        super().__init__(message, response=response, body=body, **fields)
        self.retry_after = parse_retry_after(response.headers)


class ServerError(APIStatusError):
    """5xx: the server failed; retried automatically when the request is replay-safe."""


class ConnectionError(VoxgateError):  # noqa: A001
    """No (complete) response: refused, reset, dropped or timed out."""

    def __init__(self, message: str = "connection error", *, request_id: str | None = None) -> None:
        super().__init__(message, type="connection_error", request_id=request_id)


class TimeoutError(ConnectionError):  # noqa: A001
    """The request timed out."""


class StreamError(VoxgateError):
    """An error event inside a streamed (SSE) response, after the 200 status was sent."""


class PipelineMismatchError(VoxgateError, builtins.ValueError):
    """The client is locked to one pipeline and a call named another model."""


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(body: Any) -> dict[str, Any]:
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def error_from_response(response: httpx.Response) -> APIStatusError:
    """Map an error response (body already read) to the most specific error class."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    err = _error_fields(body)
    status = response.status_code
    code = err.get("code")
    message = str(err.get("message") or response.text[:500] or f"HTTP {status}")
    cls: type[APIStatusError]
    if isinstance(code, str) and code.startswith("idempotency"):
        cls = IdempotencyConflictError
    elif status == 401:
        cls = AuthenticationError
    elif status == 402 or code == "insufficient_credits":
        cls = InsufficientCreditsError
    elif status == 403:
        cls = PermissionError
    elif status == 404:
        cls = NotFoundError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    elif status in (400, 415, 422):
        cls = ValidationError
    else:
        cls = APIStatusError
    return cls(message, response=response, body=body, type=err.get("type"), code=code, param=err.get("param"))
