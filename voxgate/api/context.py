"""What every router needs, built once by `voxgate.app` and reached through `request.app.state.ctx`, and the
one dependency that hands routers the typed caller (`Principal`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from voxgate.config import Settings
from voxgate.embeddings import EmbeddingService
from voxgate.errors import APIError
from voxgate.gateway.accounts import Accounts
from voxgate.gateway.auth import Principal
from voxgate.gateway.pipelines import PipelineLibrary
from voxgate.gateway.policy import Gateway
from voxgate.gateway.responses import ResponseLog
from voxgate.gateway.sessions import SessionCap
from voxgate.gateway.voices import VoiceLibrary
from voxgate.jobs import JobService
from voxgate.llm import ChatService
from voxgate.metrics import Metrics
from voxgate.models.catalog import Catalog
from voxgate.models.registry import ModelRegistry
from voxgate.models.stats import InferenceCounter
from voxgate.models.warmup import Warmup
from voxgate.pipelines import VoicePipeline
from voxgate.transcription import TranscriptionService
from voxgate.tts.service import SpeechService
from voxgate.voicematch import VoiceMatcher


@dataclass
class AppContext:
    settings: Settings
    catalog: Catalog
    registry: ModelRegistry
    gateway: Gateway
    accounts: Accounts
    transcription: TranscriptionService
    speech: SpeechService
    voices: VoiceLibrary
    matcher: VoiceMatcher
    chat: ChatService
    pipelines: PipelineLibrary
    voice: VoicePipeline  # runs a pipeline's turn
    embeddings: EmbeddingService
    responses: ResponseLog  # what previous_response_id continues
    jobs: JobService | None = None  # async jobs and webhooks
    warmup: Warmup = field(default_factory=lambda: Warmup([]))  # default models, loaded at start
    started_at: float = field(default_factory=time.time)  # for /v1/admin/stats' uptime
    realtime_sessions: SessionCap = field(default_factory=lambda: SessionCap(4))  # open realtime sessions per key
    metrics: Metrics = field(default_factory=Metrics)  # GET /metrics

    def inference_counts(self) -> dict[str, int]:
        """Engine runs per model since start-up, over every service that counts them."""
        counts: dict[str, int] = {}
        counters: tuple[InferenceCounter, ...] = (self.transcription.inferences, self.speech.inferences,
                                                  self.chat.inferences, self.embeddings.inferences)
        for counter in counters:
            for model, n in counter.snapshot().items():
                counts[model] = counts.get(model, 0) + n
        return counts


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def require_key(request: Request) -> Principal:
    """The caller of every /v1 route: authenticated (401), then within its key's rate limits (429)."""
    return await get_ctx(request).gateway.admit(request)


async def require_uploader(request: Request) -> Principal:
    """The caller of the upload routes: as `require_key`, but the key's concurrency slot is taken by the
    handler once the upload has arrived (`Gateway.occupy`), so slow uploads cannot use up a key's slots."""
    return await get_ctx(request).gateway.admit(request, slot=False)


async def require_admin(request: Request) -> Principal:
    """The caller of /v1/admin routes: an admin key (or the bootstrap key), else 403."""
    principal = await require_key(request)
    if not principal.admin:
        raise APIError(403, "this route needs an admin API key", code="forbidden")
    return principal


def jobs_of(ctx: AppContext) -> JobService:
    if ctx.jobs is None:
        raise APIError(503, "async jobs are not enabled on this server", code="jobs_unavailable", type="server_error")
    return ctx.jobs
