"""All configuration in one typed object, read once from VOXGATE_* variables and passed down.

Nothing else in voxgate reads the environment: each part gets its own section (`settings.gateway`,
`settings.asr`, `settings.jobs`, ...). Every field maps to one variable, named by the section's prefix
and the field (`JobSettings.workers` is VOXGATE_JOB_WORKERS); a bad value is reported with that name."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A VOXGATE_* variable holds a value voxgate cannot use; the message names the variable."""


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_ignore_empty=True, extra="ignore", frozen=True)


class LimitSettings(BaseSettings):
    """What one request may ask of the server."""

    model_config = _section("VOXGATE_")

    max_upload_bytes: int = Field(25 * 1024 * 1024, gt=0)  # larger uploads get 413
    max_speech_input_chars: int = Field(4096, gt=0)  # longer speech `input` gets 400
    max_audio_seconds: float = Field(4 * 3600, gt=0)  # uploads decoding to longer audio get 400 audio_too_long


class VoiceSettings(BaseSettings):
    """Custom voices matched from a reference clip (voxgate.voicematch)."""

    model_config = _section("VOXGATE_VOICE_")

    model: str = "kokoro"  # the speech model whose bundled voices a match blends
    max_sample_bytes: int = Field(10 * 1024 * 1024, gt=0)  # an `audio_sample` or `reference_audio`, as sent
    min_sample_s: float = Field(3.0, gt=0)
    max_sample_s: float = Field(30.0, gt=0)
    max_per_key: int = Field(50, ge=1)  # custom voices one key may keep
    match_candidates: int = Field(7, ge=0)  # blends synthesised and scored per match
    match_voices: str = ""  # comma-separated bundled voices a match may blend; empty: every English voice
    max_waiting: int = Field(4, ge=0)  # matches queued behind the running one; more get 429


class LlmSettings(BaseSettings):
    """Chat completions (voxgate.llm): the embedded llama.cpp runtime and the bounds of one request."""

    model_config = _section("VOXGATE_LLM_")

    parallel: int = Field(2, ge=1)  # sequences an embedded model decodes at once (llama.cpp slots)
    context: int = Field(4096, ge=256)  # tokens of context per sequence
    max_tokens: int = Field(1024, ge=1)  # a completion's cap when the request asks for more or says nothing
    max_messages: int = Field(256, ge=1)  # messages in one request; more get 400
    max_waiting: int = Field(16, ge=0)  # requests queued behind the busy slots of one model; more get 429
    timeout_s: float = Field(120.0, gt=0)  # one whole completion, embedded or upstream
    connect_timeout_s: float = Field(10.0, gt=0)  # reaching an upstream
    max_upstream_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # one upstream JSON answer; larger is a 502
    preload: bool = True  # load (and warm) the default chat model at start, not on the first request
    response_history: int = Field(50, ge=1)  # messages a Responses conversation keeps (previous_response_id)
    response_retention_days: float = Field(30.0, gt=0)  # stored responses older than this are gone (404)


class PipelineSettings(BaseSettings):
    """Voice pipelines (voxgate.pipelines): the bounds of one spoken turn."""

    model_config = _section("VOXGATE_PIPELINE_")

    max_audio_s: float = Field(120.0, gt=0)  # a spoken question longer than this is a 400
    max_reply_tokens: int = Field(512, ge=1)  # the most a pipeline's `max_reply_tokens` may be
    max_history: int = Field(20, ge=0)  # messages a conversation remembers (the oldest turns go first)


class EmbeddingSettings(BaseSettings):
    """POST /v1/embeddings: the bounds of one request."""

    model_config = _section("VOXGATE_EMBEDDING_")

    max_items: int = Field(512, ge=1)  # strings in one `input`
    max_item_chars: int = Field(20_000, ge=1)  # characters in one of them
    max_tokens: int = Field(32_768, ge=1)  # tokens in all of them (each is cut at the model's own limit first)


class RealtimeSettings(BaseSettings):
    """Realtime WebSocket sessions (voxgate.realtime): what one session may hold and how drafts are decoded."""

    model_config = _section("VOXGATE_REALTIME_")

    max_session_s: float = Field(3600.0, gt=0)  # a session is closed after this long (OpenAI: 60 minutes)
    idle_timeout_s: float = Field(60.0, gt=0)  # no client message for this long closes the session
    max_message_bytes: int = Field(4 * 1024 * 1024, gt=0)  # one WebSocket message (a base64 append)
    max_buffer_s: float = Field(120.0, gt=0)  # uncommitted audio (manual commit); more appends get an error
    max_turn_s: float = Field(30.0, gt=1)  # server_vad commits a turn that runs longer, and starts the next
    max_sessions_per_key: int = Field(4, ge=1)  # open sessions per key; more are refused (429)
    max_pending_events: int = Field(1024, ge=16)  # server events queued for a slow reader before it is dropped
    draft_interval_s: float = Field(0.5, gt=0)  # new audio between two draft decodes of the open turn
    draft_model: str = ""  # a faster model for English drafts (e.g. whisper-tiny.en); empty: the session's model
    credit_block_s: float = Field(60.0, gt=0)  # audio seconds held on a credit-limited key at a time


class MetricsSettings(BaseSettings):
    """GET /metrics (Prometheus): who may read it."""

    model_config = _section("VOXGATE_METRICS_")

    # loopback: open to clients on this machine, an admin key from anywhere else; admin: an admin key always;
    # open: anyone who can reach the port
    access: Literal["loopback", "admin", "open"] = "loopback"


class StoreSettings(BaseSettings):
    """Where state lives when several replicas share it; empty: the embedded SQLite file and in-process limits."""

    model_config = _section("VOXGATE_")

    # postgresql://user:pass@host:5432/db: keys, idempotency, ledger and credits, jobs, deliveries, voices,
    # pipelines and responses in PostgreSQL (psycopg 3, a pool of `database_pool_size` connections per replica)
    database_url: str = ""
    database_pool_size: int = Field(8, ge=1, le=100)
    # redis://host:6379/0: per-key rate limits (requests per minute, in flight) shared by every replica
    redis_url: str = ""
    # a directory every replica mounts: queued jobs' input files (default: <data dir>/jobs, this machine only)
    shared_dir: Path | None = None


class RaySettings(BaseSettings):
    """Inference workers on Ray: empty address, everything in this process."""

    model_config = _section("VOXGATE_RAY_")

    address: str = ""  # "auto", or host:port of the cluster's head (ray start --head)
    asr_actors: int = Field(2, ge=1, le=256)  # Whisper actors per transcription model
    tts_actors: int = Field(1, ge=0, le=256)  # actors per speech model (0: speech stays in the server)
    actor_cpus: float = Field(1.0, gt=0)  # CPUs each actor reserves (and its decoding threads)
    max_restarts: int = Field(1, ge=0)  # a dead actor is restarted and its batch retried this often
    start_timeout_s: float = Field(300.0, gt=0)  # actors must have loaded their model by then
    decode_timeout_s: float = Field(600.0, gt=0)  # one batch
    namespace: str = "voxgate"

    @property
    def actor_threads(self) -> int:
        """Inference threads in each actor: its whole CPUs, at least one."""
        return max(1, int(self.actor_cpus))


class ConnectionSettings(BaseSettings):
    """How long and how much a client may take to send a request (voxgate.transport)."""

    model_config = _section("VOXGATE_")

    header_timeout_s: float = Field(10.0, gt=0)  # request line and headers, from the first byte
    max_header_bytes: int = Field(64 * 1024, gt=0)  # larger headers get 431
    body_idle_timeout_s: float = Field(10.0, gt=0)  # longest gap in a body while the server reads it
    body_min_rate: float = Field(1024.0, ge=0)  # bytes/s a body must average after its first idle period
    body_timeout_s: float = Field(300.0, gt=0)  # the whole body
    linger_s: float = Field(5.0, ge=0)  # an unread body (refused early) is discarded this long, then closed
    max_json_bytes: int = Field(1024 * 1024, gt=0)  # JSON bodies other than uploads


class GatewaySettings(BaseSettings):
    """Keys, idempotent replay and rate limits (0 = unlimited; a key may override the defaults)."""

    model_config = _section("VOXGATE_")

    enabled: bool = Field(True, validation_alias=AliasChoices("VOXGATE_GATEWAY"))  # off only for benchmarks
    bootstrap_key: str | None = None  # a key the server always accepts (admin)
    idempotency_ttl_s: int = Field(24 * 3600, gt=0)
    idempotency_wait_s: float = Field(60.0, ge=0)
    default_rpm: int = Field(600, ge=0)
    default_concurrency: int = Field(8, ge=0)


class AsrSettings(BaseSettings):
    """Whisper decoding capacity; 0 means "choose from the catalog entry, else the machine"."""

    model_config = _section("VOXGATE_ASR_")

    workers: int = Field(0, ge=0)  # CTranslate2 replicas decoding in parallel
    batch_size: int = Field(0, ge=0)  # windows per batch
    coverage: bool = True  # re-decode VAD speech that a long-form window's words left bare
    short_window_s: float = Field(15.0, ge=15.0, le=30.0)  # audio this short is encoded at this length, not 30 s


class JobSettings(BaseSettings):
    """Async transcription jobs (0 workers: accept jobs here, run them in another process)."""

    model_config = _section("VOXGATE_JOB_")

    workers: int = Field(1, ge=0)
    lease_s: float = Field(60.0, gt=0)
    poll_s: float = Field(1.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    max_queued_per_key: int = Field(20, ge=1)  # queued or running jobs of one key; more get 429
    max_queued_bytes_per_key: int = Field(2 * 1024**3, ge=1)  # their stored inputs, together
    retention_days: float = Field(30.0, gt=0)  # finished jobs, their results and delivery logs are then deleted


class WebhookSettings(BaseSettings):
    """Signed webhook deliveries and their retries."""

    model_config = _section("VOXGATE_WEBHOOK_")

    secret: str | None = None  # default: one created in the data dir
    max_attempts: int = Field(8, ge=1)
    retry_base_s: float = Field(5.0, ge=0)
    retry_max_s: float = Field(3600.0, ge=0)
    timeout_s: float = Field(10.0, gt=0)  # one whole attempt: resolve, connect, send, the answer's status line
    allow_private: bool = False  # send to loopback and private addresses too (private deployments, tests)
    allowed_networks: str = ""  # comma-separated CIDRs allowed although not public, e.g. 10.1.0.0/16
    secret_grace_s: float = Field(24 * 3600, ge=0)  # after a key rotates its secret, the old one still signs
    max_resends: int = Field(5, ge=0)  # resends of one delivery
    max_pending_per_key: int = Field(100, ge=1)  # queued deliveries of one key; more resends are refused
    workers: int = Field(4, ge=1)  # attempts in flight at once (one per API key at a time)

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        _parse_networks(value)  # a bad entry is reported with the variable's name
        return value

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return _parse_networks(self.allowed_networks)


def _parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`10.0.0.0/8, fd00::/8` -> networks; ValueError names a bad entry."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def default_data_dir() -> Path:
    """The per-user data dir: $XDG_DATA_HOME/voxgate, else ~/.local/share/voxgate."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".local" / "share") / "voxgate"


class ServerSettings(BaseSettings):
    """Where voxgate listens and keeps its data."""

    model_config = _section("VOXGATE_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # SQLite database, model cache, uploads, job inputs: one default for the server and every CLI command,
    # wherever they are started (`make serve` passes the checkout's .voxgate)
    data_dir: Path = Field(default_factory=lambda: default_data_dir())
    model_cache: Path | None = None  # joined weights and derived tables; default <data dir>/models
    catalog: Path | None = None  # an extra catalog TOML merged over the built-in one
    cpu_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, gt=0)  # threads per model
    log_level: str = "info"
    # browser origins allowed to call the API (comma-separated, or *); empty: none. Keys travel in the
    # Authorization header, never cookies, so no credentials are allowed across origins
    cors_origins: str = ""
    # glibc malloc arenas for the server process (0: glibc's default of 8 per core). Inference runs in many
    # threads, and each arena keeps its own high-water mark: 2 held a 10-minute soak's RSS about 35% lower.
    malloc_arenas: int = Field(2, ge=0)


class Settings(BaseModel):
    """Everything an operator can tune, by section. `Settings.from_env()` is the one place the environment
    is read; tests and embedders may build sections themselves."""

    model_config = ConfigDict(frozen=True)

    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    connections: ConnectionSettings = Field(default_factory=ConnectionSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    voices: VoiceSettings = Field(default_factory=VoiceSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    pipelines: PipelineSettings = Field(default_factory=PipelineSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    ray: RaySettings = Field(default_factory=RaySettings)

    @classmethod
    def from_env(cls) -> Settings:
        """Read every section; the data dir becomes absolute, so a later `chdir` cannot move it."""
        try:
            server = ServerSettings()
            cache = server.model_cache.resolve() if server.model_cache is not None else None
            update = {"data_dir": server.data_dir.resolve(), "model_cache": cache}
            settings = cls(server=server.model_copy(update=update))
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None
        return settings

    # Paths derived from the data dir, named once.

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def db_path(self) -> Path:
        return self.data_dir / "voxgate.sqlite3"

    @property
    def model_cache_dir(self) -> Path:
        return self.server.model_cache or self.data_dir / "models"

    @property
    def tmp_dir(self) -> Path:
        """Uploads and decoded audio while a request runs."""
        return self.data_dir / "tmp"

    @property
    def jobs_dir(self) -> Path:
        """Inputs of queued async jobs, kept until the job ends: in the shared dir when replicas share jobs."""
        return (self.store.shared_dir or self.data_dir) / "jobs"

    @property
    def catalog_files(self) -> tuple[Path, ...]:
        """Catalog files merged over the built-in one, in order: VOXGATE_CATALOG, then <data dir>/catalog.toml."""
        return tuple(p for p in (self.server.catalog, self.data_dir / "catalog.toml") if p is not None)


_SECTIONS: tuple[type[BaseSettings], ...] = (ServerSettings, LimitSettings, ConnectionSettings, GatewaySettings,
                                             AsrSettings, JobSettings, WebhookSettings, VoiceSettings,
                                             LlmSettings, PipelineSettings, EmbeddingSettings, RealtimeSettings,
                                             MetricsSettings, StoreSettings, RaySettings)


def secret(name: str) -> str | None:
    """An operator's secret named in the catalog (an upstream's `api_key_env`), read when it is needed so a
    rotated key takes effect without a restart; config is the one module that reads the environment."""
    value = os.environ.get(name, "").strip()
    return value or None


def env_name(section: type[BaseSettings], field: str) -> str:
    """The variable a field is read from: its alias, else the section's prefix and the field name."""
    info = section.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"{section.model_config.get('env_prefix', '')}{field}".upper()


def _describe(exc: ValidationError) -> str:
    section = next((s for s in _SECTIONS if s.__name__ == exc.title), ServerSettings)
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, (str, int, float)) else ""
        problems.append(f"{env_name(section, field)}: {error['msg']}{shown}")
    return "invalid configuration: " + "; ".join(problems)
