"""Bearer-key authentication for every /v1 route."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from voxgate.api.errors import APIError
from voxgate.store.keys import KeyStore


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (never the key itself) and its name."""

    key_id: str
    name: str


BOOTSTRAP = Principal(key_id="key_bootstrap", name="bootstrap")


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    return token.strip()


def authenticate(request: Request, keys: KeyStore, bootstrap_key: str | None) -> Principal:
    """Resolve the caller or raise 401; the bootstrap key (VOXGATE_BOOTSTRAP_KEY) is checked in constant time."""
    token = _bearer(request)
    if bootstrap_key and hmac.compare_digest(token.encode(), bootstrap_key.encode()):
        principal = BOOTSTRAP
    else:
        record = keys.authenticate(token)
        if record is None:
            raise APIError(401, "invalid API key", code="invalid_api_key")
        principal = Principal(key_id=record.id, name=record.name)
    request.scope.setdefault("state", {}).setdefault("access", {})["key_id"] = principal.key_id
    return principal
