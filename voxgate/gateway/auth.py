"""Bearer-key authentication for every /v1 route: who is calling and what their key allows."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from voxgate.errors import APIError
from voxgate.store.interfaces import KeyRepository, PipelineStore
from voxgate.store.keys import ApiKey


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (never the key itself), its name and its effective policy.

    `rpm` / `concurrency` are the limits in force (None = unlimited); `pipeline` is the voice pipeline, or
    the one catalog model id, a scoped key may use (None = a workspace key); `credit_limited` says the key
    has a balance to check before inference."""

    key_id: str
    name: str
    admin: bool = False
    pipeline: str | None = None
    rpm: int | None = None
    concurrency: int | None = None
    credit_limited: bool = False
    # a key scoped to a stored voice pipeline: its model per task ("transcription", "chat", "speech"), read
    # with the key (off the event loop); empty for a key scoped to one model, or to none
    pipeline_models: tuple[tuple[str, str], ...] = ()


# The operator's break-glass key: admin, every model, no credits, no rate limits (still metered).
BOOTSTRAP = Principal(key_id="key_bootstrap", name="bootstrap", admin=True)


def _limit(value: int | None, default: int) -> int | None:
    chosen = default if value is None else value
    return chosen if chosen > 0 else None


def principal_of(record: ApiKey, default_rpm: int, default_concurrency: int,
                 pipelines: PipelineStore | None = None) -> Principal:
    scoped = pipelines.get(record.pipeline) if pipelines is not None and record.pipeline else None
    models = (("transcription", scoped.stt_model), ("chat", scoped.llm_model), ("speech", scoped.tts_model)) \
        if scoped is not None else ()
    return Principal(key_id=record.id, name=record.name, admin=record.admin, pipeline=record.pipeline,
                     rpm=_limit(record.rpm, default_rpm), concurrency=_limit(record.concurrency, default_concurrency),
                     credit_limited=record.credits_nano is not None, pipeline_models=models)


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def identify(token: str, keys: KeyRepository, bootstrap_key: str | None, default_rpm: int = 0,
             default_concurrency: int = 0, pipelines: PipelineStore | None = None) -> Principal | None:
    """The principal a token stands for, or None; the bootstrap key is compared in constant time."""
    if bootstrap_key and hmac.compare_digest(token.encode(), bootstrap_key.encode()):
        return BOOTSTRAP
    record = keys.authenticate(token)
    return None if record is None else principal_of(record, default_rpm, default_concurrency, pipelines)


def authenticate(request: HTTPConnection, keys: KeyRepository, bootstrap_key: str | None, default_rpm: int = 0,
                 default_concurrency: int = 0, pipelines: PipelineStore | None = None) -> Principal:
    """Resolve the caller or raise 401."""
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    principal = identify(token, keys, bootstrap_key, default_rpm, default_concurrency, pipelines)
    if principal is None:
        raise APIError(401, "invalid API key", code="invalid_api_key")
    return principal
