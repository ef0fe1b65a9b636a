"""The ASGI application: routers, the error envelope and request ids, over one AppContext."""

from __future__ import annotations

from fastapi import FastAPI

from voxgate import __version__
from voxgate.api import health, models, speech, transcriptions
from voxgate.api.context import AppContext
from voxgate.api.errors import install_error_handlers
from voxgate.config import Settings
from voxgate.gateway.request_ids import RequestIdMiddleware


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(title="voxgate", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.ctx = AppContext.build(settings)
    install_error_handlers(app)
    for module in (health, models, speech, transcriptions):
        app.include_router(module.router)
    app.add_middleware(RequestIdMiddleware)
    return app
