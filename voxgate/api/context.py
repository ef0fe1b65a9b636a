"""What every router needs, built once at start-up and reached through `request.app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from voxgate.api.errors import APIError
from voxgate.asr.service import TranscriptionService
from voxgate.config import Settings
from voxgate.gateway.auth import Principal
from voxgate.gateway.policy import Gateway
from voxgate.models.catalog import Catalog
from voxgate.models.registry import ModelRegistry
from voxgate.store.db import Database
from voxgate.store.gateway_store import SqliteGatewayStore
from voxgate.store.keys import KeyStore
from voxgate.tts.service import SpeechService

if TYPE_CHECKING:
    from voxgate.jobs.service import JobService


@dataclass
class AppContext:
    settings: Settings
    catalog: Catalog
    registry: ModelRegistry
    db: Database
    keys: KeyStore
    transcription: TranscriptionService
    speech: SpeechService
    gateway: Gateway
    jobs: "JobService | None" = None  # async jobs and webhooks, attached by create_app

    @classmethod
    def build(cls, settings: Settings) -> "AppContext":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        extra = [p for p in (settings.catalog_path, settings.data_dir / "catalog.toml") if p is not None]
        catalog = Catalog.load(*extra)
        registry = ModelRegistry(catalog, settings.model_cache_dir, settings.cpu_threads)
        db = Database(settings.db_path)
        keys = KeyStore(db)
        gateway = Gateway(settings, catalog, keys, SqliteGatewayStore(db))
        return cls(settings=settings, catalog=catalog, registry=registry, db=db, keys=keys,
                   transcription=TranscriptionService(registry), speech=SpeechService(registry), gateway=gateway)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def require_key(request: Request) -> Principal:
    """FastAPI dependency: every /v1 route authenticates first, then passes the key's rate limits."""
    return await get_ctx(request).gateway.admit(request)


async def require_admin(request: Request) -> Principal:
    """FastAPI dependency for /v1/admin routes: an admin key (or the bootstrap key), else 403."""
    principal = await require_key(request)
    if not principal.admin:
        raise APIError(403, "this route needs an admin API key", code="forbidden")
    return principal
