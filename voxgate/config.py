"""Server settings read once from the environment, so containers and tests configure voxgate without files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything an operator can tune; each field maps to one VOXGATE_* variable."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".voxgate")
    bootstrap_key: str | None = None
    catalog_path: Path | None = None
    max_upload_bytes: int = 25 * 1024 * 1024
    max_speech_input_chars: int = 4096
    cpu_threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    log_level: str = "info"
    # gateway: idempotent replay, rate limits (0 = unlimited; a key may override), policy on/off (benchmarks)
    idempotency_ttl_s: int = 24 * 3600
    idempotency_wait_s: float = 60.0
    default_rpm: int = 600
    default_concurrency: int = 8
    gateway: bool = True
    # async jobs (0 workers: accept jobs, run them elsewhere) and webhook deliveries
    job_workers: int = 1
    job_lease_s: float = 60.0
    job_poll_s: float = 1.0
    job_max_attempts: int = 3
    webhook_secret: str | None = None
    webhook_max_attempts: int = 8
    webhook_retry_base_s: float = 5.0
    webhook_retry_max_s: float = 3600.0
    webhook_timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> "Settings":
        catalog = os.environ.get("VOXGATE_CATALOG")
        return cls(
            host=os.environ.get("VOXGATE_HOST", cls.host),
            port=_int("VOXGATE_PORT", cls.port),
            data_dir=Path(os.environ.get("VOXGATE_DATA_DIR", str(cls.data_dir))).resolve(),
            bootstrap_key=os.environ.get("VOXGATE_BOOTSTRAP_KEY") or None,
            catalog_path=Path(catalog) if catalog else None,
            max_upload_bytes=_int("VOXGATE_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            max_speech_input_chars=_int("VOXGATE_MAX_SPEECH_INPUT_CHARS", cls.max_speech_input_chars),
            cpu_threads=_int("VOXGATE_CPU_THREADS", os.cpu_count() or 2),
            log_level=os.environ.get("VOXGATE_LOG_LEVEL", cls.log_level),
            idempotency_ttl_s=_int("VOXGATE_IDEMPOTENCY_TTL_S", cls.idempotency_ttl_s),
            idempotency_wait_s=_float("VOXGATE_IDEMPOTENCY_WAIT_S", cls.idempotency_wait_s),
            default_rpm=_int("VOXGATE_DEFAULT_RPM", cls.default_rpm),
            default_concurrency=_int("VOXGATE_DEFAULT_CONCURRENCY", cls.default_concurrency),
            gateway=_bool("VOXGATE_GATEWAY", cls.gateway),
            job_workers=_int("VOXGATE_JOB_WORKERS", cls.job_workers),
            job_lease_s=_float("VOXGATE_JOB_LEASE_S", cls.job_lease_s),
            job_poll_s=_float("VOXGATE_JOB_POLL_S", cls.job_poll_s),
            job_max_attempts=_int("VOXGATE_JOB_MAX_ATTEMPTS", cls.job_max_attempts),
            webhook_secret=os.environ.get("VOXGATE_WEBHOOK_SECRET") or None,
            webhook_max_attempts=_int("VOXGATE_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts),
            webhook_retry_base_s=_float("VOXGATE_WEBHOOK_RETRY_BASE_S", cls.webhook_retry_base_s),
            webhook_retry_max_s=_float("VOXGATE_WEBHOOK_RETRY_MAX_S", cls.webhook_retry_max_s),
            webhook_timeout_s=_float("VOXGATE_WEBHOOK_TIMEOUT_S", cls.webhook_timeout_s),
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "voxgate.sqlite3"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"
