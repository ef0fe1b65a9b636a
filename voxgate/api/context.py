"""What every router needs, built once at start-up and reached through `request.app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from voxgate.asr.service import TranscriptionService
from voxgate.config import Settings
from voxgate.gateway.auth import Principal, authenticate
from voxgate.models.catalog import Catalog
from voxgate.models.registry import ModelRegistry
from voxgate.store.db import Database
from voxgate.store.keys import KeyStore
from voxgate.tts.service import SpeechService


@dataclass
class AppContext:
    settings: Settings
    catalog: Catalog
    registry: ModelRegistry
    db: Database
    keys: KeyStore
    transcription: TranscriptionService
    speech: SpeechService

    @classmethod
    def build(cls, settings: Settings) -> "AppContext":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        extra = [p for p in (settings.catalog_path, settings.data_dir / "catalog.toml") if p is not None]
        catalog = Catalog.load(*extra)
        registry = ModelRegistry(catalog, settings.model_cache_dir, settings.cpu_threads)
        db = Database(settings.db_path)
        return cls(settings=settings, catalog=catalog, registry=registry, db=db, keys=KeyStore(db),
                   transcription=TranscriptionService(registry), speech=SpeechService(registry))


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def require_key(request: Request) -> Principal:
    """FastAPI dependency: every /v1 route authenticates first."""
    ctx = get_ctx(request)
    return authenticate(request, ctx.keys, ctx.settings.bootstrap_key)
