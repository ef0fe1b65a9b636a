"""Signing and verifying voxgate webhook events.

The server signs every delivery with the secret of the API key whose job it is (each key has its own,
returned only to that key) and with the workspace secret (returned only to admin keys, for an operator's
own receiver); receivers check the signature with the secret they hold before trusting the body.
Stdlib only, so a receiver can `import voxgate.webhooks` without pulling in the server.

Header format: ``voxgate-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
Several ``v1=`` entries appear (the key's secret, during a rotation also its previous one, and the
workspace's); any match is accepted. The timestamp is
part of the signed message, so an old delivery cannot be replayed outside the tolerance window.

    from voxgate.webhooks import construct_event, WebhookVerificationError

    try:
        event = construct_event(request_body, request.headers["voxgate-signature"], secret)
    except WebhookVerificationError:
        return 400
    if event["type"] == "transcription.job.succeeded":
        job = event["data"]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "SIGNATURE_HEADER",
    "DEFAULT_TOLERANCE",
    "WebhookVerificationError",
    "sign",
    "signature_header",
    "verify_signature",
    "construct_event",
]

SIGNATURE_HEADER = "voxgate-signature"
DEFAULT_TOLERANCE = 300
SCHEME = "v1"


class WebhookVerificationError(ValueError):
    """The payload is not a genuine, fresh voxgate event: reject it (answer 400)."""


def _as_bytes(value: str | bytes | bytearray) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def sign(payload: str | bytes, secret: str, timestamp: int) -> str:
    """The hex v1 signature of `payload` sent at `timestamp`."""
    message = str(int(timestamp)).encode() + b"." + _as_bytes(payload)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def signature_header(payload: str | bytes, secret: str | Sequence[str], timestamp: int | None = None) -> str:
    """The full `voxgate-signature` header value for one delivery attempt: one `v1=` per secret."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secret] if isinstance(secret, str) else list(secret)
    return f"t={t}," + ",".join(f"{SCHEME}={sign(payload, key, t)}" for key in keys)


def _header_value(header: str | Mapping[str, str] | None) -> str:
    """Accept the header value itself or a headers mapping (any capitalisation)."""
    if header is None:
        raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} header")
    if isinstance(header, str):
        return header
    for name, value in header.items():
        if name.lower() == SIGNATURE_HEADER:
            return value
    raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} header")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookVerificationError("the signature timestamp is not an integer") from None
        elif key == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise WebhookVerificationError("the signature header has no timestamp (t=)")
    if not signatures:
        raise WebhookVerificationError(f"the signature header has no {SCHEME}= signature")
    return timestamp, signatures


def verify_signature(
    payload: str | bytes,
    header: str | Mapping[str, str] | None,
    secret: str,
    tolerance: float | None = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> int:
    """Check that `payload` (the raw request body, unparsed) was signed with `secret` recently.

    `header` is the `voxgate-signature` value or the whole headers mapping. Returns the signed
    timestamp; raises WebhookVerificationError on a bad or missing signature, or a timestamp more than
    `tolerance` seconds away from now (pass None to skip the age check, e.g. in tests of old fixtures).
    """
    if not secret:
        raise WebhookVerificationError("no webhook secret configured")
    timestamp, signatures = _parse(_header_value(header))
    expected = sign(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookVerificationError("the signature does not match the payload")
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            raise WebhookVerificationError(
                f"the signature timestamp is {int(current - timestamp)} s old; the tolerance is {int(tolerance)} s"
            )
    return timestamp


def construct_event(
    payload: str | bytes,
    header: str | Mapping[str, str] | None,
    secret: str,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Verify the signature, then parse the event: `{"id", "type", "created", "data": {...}}`."""
    verify_signature(payload, header, secret, tolerance)
    try:
        event = json.loads(_as_bytes(payload))
    except ValueError:
        raise WebhookVerificationError("the payload is not valid JSON") from None
    if not isinstance(event, dict) or "type" not in event:
        raise WebhookVerificationError("the payload is not a voxgate event")
    return event
