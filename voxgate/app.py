"""The ASGI application: routers, the error envelope and request ids, over one AppContext."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import AsyncIterator

import anyio
from fastapi import FastAPI

from voxgate import __version__
from voxgate.api import admin, health, jobs, models, speech, transcriptions, usage, webhooks
from voxgate.api.context import AppContext
from voxgate.api.errors import install_error_handlers
from voxgate.config import Settings
from voxgate.gateway.middleware import GatewayMiddleware
from voxgate.gateway.request_ids import RequestIdMiddleware
from voxgate.jobs.service import JobService


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background work lives as long as the server: the job runner and the webhook sender."""
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
    app = FastAPI(title="voxgate", version=__version__, docs_url="/docs", redoc_url=None, lifespan=_lifespan)
    app.state.ctx = AppContext.build(settings)
    ctx = app.state.ctx
    ctx.jobs = JobService(settings, ctx.db, ctx.catalog, ctx.transcription,
                          parse_params=partial(transcriptions.parse_params, ctx), credit_store=ctx.gateway.store)
    install_error_handlers(app)
    for module in (health, models, speech, transcriptions, admin, usage, jobs, webhooks):
        app.include_router(module.router)
    if settings.gateway:  # idempotency, metering, rate-limit headers (inside the request-id middleware)
        app.add_middleware(GatewayMiddleware, gateway=app.state.ctx.gateway)
    app.add_middleware(RequestIdMiddleware)
    return app
