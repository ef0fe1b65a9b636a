"""The composition root: build every service once from `Settings`, wire the stores behind their
interfaces, and mount the routers, the error envelope and the middlewares on one ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.staticfiles import StaticFiles

from voxgate import __version__
from voxgate.api import (
    admin,
    chat,
    docs,
    embeddings,
    health,
    images,
    jobs,
    metrics,
    models,
    pipelines,
    playground,
    realtime,
    responses,
    speech,
    transcriptions,
    usage,
    voices,
    webhooks,
)
from voxgate.api.context import AppContext
from voxgate.api.errors import install_error_handlers
from voxgate.api.openapi import install_openapi
from voxgate.asr import WhisperEngine
from voxgate.config import Settings, secret
from voxgate.diarize.embedding import SpeakerEmbedder
from voxgate.embeddings import EmbeddingService
from voxgate.embeddings.service import EmbeddingLimits
from voxgate.gateway.accounts import Accounts
from voxgate.gateway.intake import IntakeMiddleware
from voxgate.gateway.middleware import GatewayMiddleware
from voxgate.gateway.pipelines import PipelineLibrary
from voxgate.gateway.policy import Gateway
from voxgate.gateway.request_ids import RequestIdMiddleware
from voxgate.gateway.responses import ResponseLog
from voxgate.gateway.sessions import SessionCap
from voxgate.gateway.voices import VoiceLibrary
from voxgate.jobs import JobService
from voxgate.llm import ChatService
from voxgate.metrics import Metrics, Sources
from voxgate.models.catalog import Catalog
from voxgate.models.registry import ModelRegistry
from voxgate.models.warmup import Warmup
from voxgate.pipelines import VoicePipeline
from voxgate.store.db import Database, SqlDatabase
from voxgate.store.deliveries import SqliteDeliveryStore
from voxgate.store.gateway_store import SqliteGatewayStore
from voxgate.store.interfaces import RateLimiter
from voxgate.store.jobs import SqliteJobStore
from voxgate.store.keys import KeyStore
from voxgate.store.pipelines import SqlitePipelineStore
from voxgate.store.responses import SqliteResponseStore
from voxgate.store.voices import SqliteVoiceStore
from voxgate.transcription import TranscriptionService
from voxgate.tts.service import SpeechService
from voxgate.voicematch import VoiceMatcher

# what a browser page may read of an answer, beyond the CORS-safelisted headers
EXPOSED_HEADERS = ["x-request-id", "x-client-request-id", "x-credits-used", "idempotent-replayed", "retry-after",
                   "retry-after-ms", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                   "x-ratelimit-reset-requests", "x-voxgate-voice", "content-disposition"]


def ray_workers(settings: Settings) -> Any:
    """The Ray connection for the server's engines when VOXGATE_RAY_ADDRESS is set (None: all in this process)."""
    if not settings.ray.address:
        return None
    from voxgate.workers import RayAsr  # ray is needed only here

    return RayAsr(settings.ray, settings.server.cpu_threads, settings.asr.batch_size, settings.asr.short_window_s)


def transcription_service(settings: Settings, catalog: Catalog, registry: ModelRegistry,
                          ray: Any = None) -> TranscriptionService:
    """`ray`: Whisper batches are decoded by Ray actors (the server passes it; the CLI decodes here)."""
    offload = ray.offload if ray is not None else None
    return TranscriptionService(catalog, registry, settings.asr, settings.server.cpu_threads, settings.tmp_dir,
                                max_audio_seconds=settings.limits.max_audio_seconds, offload=offload)


def speech_service(settings: Settings, catalog: Catalog, registry: ModelRegistry, ray: Any = None) -> SpeechService:
    """`ray`: the server's RayAsr, when VOXGATE_RAY_TTS_ACTORS > 0 puts speech models on Ray actors too."""
    remote = ray.speech if ray is not None and settings.ray.tts_actors > 0 else None
    return SpeechService(catalog, registry, settings.server.cpu_threads, settings.limits.max_speech_input_chars,
                         remote=remote)


def chat_service(settings: Settings, catalog: Catalog, registry: ModelRegistry) -> ChatService:
    return ChatService(catalog, registry, settings.llm, settings.server.cpu_threads, secret)


def open_database(settings: Settings) -> SqlDatabase:
    """The one database every store shares: PostgreSQL when VOXGATE_DATABASE_URL is set (replicas share it),
    else the SQLite file in the data dir."""
    if settings.store.database_url:
        from voxgate.store.postgres import PostgresDatabase  # psycopg is needed only here

        return PostgresDatabase(settings.store.database_url, pool_size=settings.store.database_pool_size)
    return Database(settings.db_path)


def rate_limiter(settings: Settings) -> RateLimiter | None:
    """Redis-backed per-key limits when VOXGATE_REDIS_URL is set (one limit over every replica); None: the
    gateway's in-process buckets."""
    if not settings.store.redis_url:
        return None
    from voxgate.gateway.redis_limits import RedisRateLimiter  # redis is needed only here

    return RedisRateLimiter(settings.store.redis_url)


def open_accounts(settings: Settings, catalog: Catalog | None = None) -> Accounts:
    """Key management and usage over the data dir's database, without a server (the CLI)."""
    db = open_database(settings)
    return Accounts(KeyStore(db), SqliteGatewayStore(db), catalog or Catalog.load(*settings.catalog_files),
                    SqlitePipelineStore(db))


def pipeline_library(settings: Settings, catalog: Catalog, store: SqlitePipelineStore,
                     voice: VoicePipeline) -> PipelineLibrary:
    return PipelineLibrary(store, catalog, voice.check, settings.pipelines.max_reply_tokens,
                           settings.pipelines.max_history)


def open_pipelines(settings: Settings) -> PipelineLibrary:
    """Pipeline management over the data dir's database, without a server (the CLI); loads no model."""
    catalog = Catalog.load(*settings.catalog_files)
    registry = ModelRegistry(settings.model_cache_dir)
    voice = VoicePipeline(transcription_service(settings, catalog, registry),
                          chat_service(settings, catalog, registry), speech_service(settings, catalog, registry))
    return pipeline_library(settings, catalog, SqlitePipelineStore(open_database(settings)), voice)


def voice_matcher(settings: Settings, speech: SpeechService) -> VoiceMatcher:
    voices = tuple(v.strip() for v in settings.voices.match_voices.split(",") if v.strip())
    return VoiceMatcher(speech.engine, SpeakerEmbedder(threads=settings.server.cpu_threads), settings.model_cache_dir,
                        candidates=settings.voices.match_candidates, max_waiting=settings.voices.max_waiting,
                        voices=voices)


def sample_body_limit(settings: Settings) -> int:
    """The most body a route taking a voice sample receives: the largest sample in base64, plus the rest."""
    return settings.voices.max_sample_bytes * 4 // 3 + (1 << 20)


def upload_body_limit(settings: Settings) -> int:
    """The most body an upload route receives: the largest upload in base64, plus room for the other fields."""
    return settings.limits.max_upload_bytes * 4 // 3 + (1 << 20)


def build_context(settings: Settings) -> AppContext:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.load(*settings.catalog_files)
    registry = ModelRegistry(settings.model_cache_dir)
    db = open_database(settings)
    keys, gateway_store, pipeline_store = KeyStore(db), SqliteGatewayStore(db), SqlitePipelineStore(db)
    gateway = Gateway(settings.gateway, catalog, keys, gateway_store, upload_body_limit(settings),
                      pipelines=pipeline_store, limiter=rate_limiter(settings))
    ray = ray_workers(settings)
    transcription = transcription_service(settings, catalog, registry, ray)
    jobs_service = JobService(settings.jobs, settings.webhooks, SqliteJobStore(db), SqliteDeliveryStore(db),
                              transcription, settings.jobs_dir, settings.data_dir, credit_store=gateway_store)
    speech = speech_service(settings, catalog, registry, ray)
    chat_models = chat_service(settings, catalog, registry)
    loaders = [lambda: transcription.engine(catalog.default("transcription")),
               lambda: speech.engine(catalog.default("speech"))]
    if settings.llm.preload and catalog.default("chat").is_available():
        loaders.append(lambda: chat_models.engine(catalog.default("chat")))
    warmup = Warmup(loaders)
    voice = VoicePipeline(transcription, chat_models, speech)
    context = AppContext(settings=settings, catalog=catalog, registry=registry, gateway=gateway,
                      accounts=Accounts(keys, gateway_store, catalog, pipeline_store), transcription=transcription,
                      speech=speech, voices=VoiceLibrary(SqliteVoiceStore(db), settings.voices.max_per_key),
                      matcher=voice_matcher(settings, speech), chat=chat_models,
                      pipelines=pipeline_library(settings, catalog, pipeline_store, voice), voice=voice,
                      embeddings=EmbeddingService(catalog, registry, EmbeddingLimits(
                          settings.embeddings.max_items, settings.embeddings.max_item_chars,
                          settings.embeddings.max_tokens)),
                      responses=ResponseLog(SqliteResponseStore(db), settings.llm.response_history,
                                            settings.llm.response_retention_days),
                      jobs=jobs_service, warmup=warmup,
                      realtime_sessions=SessionCap(settings.realtime.max_sessions_per_key),
                      metrics=build_metrics(registry, jobs_service))
    gateway.metrics = context.metrics
    context.metrics.sources.inferences = context.inference_counts
    jobs_service.on_units = context.metrics.used
    return context


def build_metrics(registry: ModelRegistry, jobs_service: JobService) -> Metrics:
    """The series read at scrape time: loaded models, the ASR schedulers, jobs and deliveries by status."""

    def schedulers() -> dict[str, tuple[int, int, int]]:
        return {model: engine.load_stats() for model, engine in registry.instances().items()
                if isinstance(engine, WhisperEngine)}

    return Metrics(Sources(models=lambda: dict(registry.load_seconds), schedulers=schedulers,
                           jobs=jobs_service.store.count_by_status, deliveries=jobs_service.deliveries.count_by_status))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background work lives as long as the server: the model warm-up, the job runner and the webhook sender."""
    app.state.ctx.warmup.start()
    service: JobService | None = app.state.ctx.jobs
    if service is not None:
        await anyio.to_thread.run_sync(service.start)
    try:
        yield
    finally:
        if service is not None:
            await anyio.to_thread.run_sync(service.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(title="voxgate", version=__version__, docs_url=None, redoc_url=None, lifespan=_lifespan)
    app.state.ctx = build_context(settings)
    install_error_handlers(app)
    install_openapi(app)
    for module in (health, models, speech, voices, transcriptions, chat, responses, pipelines, embeddings, images,
                   admin, usage, jobs, webhooks, realtime, metrics, docs, playground):
        app.include_router(module.router)
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS), name="docs-assets")
    app.mount(playground.ASSETS_URL, StaticFiles(directory=playground.ASSETS_DIR), name="playground-assets")
    if settings.gateway.enabled:  # idempotency, metering, rate-limit headers (inside the intake middleware)
        app.add_middleware(GatewayMiddleware, gateway=app.state.ctx.gateway)
    # Keys and body limits before anything reads a body.
    app.add_middleware(IntakeMiddleware, gateway=app.state.ctx.gateway, upload_limit=upload_body_limit(settings),
                       json_limit=settings.connections.max_json_bytes, sample_limit=sample_body_limit(settings))
    origins = [o.strip() for o in settings.server.cors_origins.split(",") if o.strip()]
    if origins:  # preflights are answered here, before the intake's key check (a preflight carries no key)
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"],
                           expose_headers=EXPOSED_HEADERS, allow_credentials=False, max_age=600)
    app.add_middleware(RequestIdMiddleware, metrics=app.state.ctx.metrics)
    return app
