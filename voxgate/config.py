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
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "voxgate.sqlite3"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"
