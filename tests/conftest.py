"""A live voxgate server for the whole test session, driven through the official openai SDK."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_KEY = "vg_test_bootstrap_key"
MODEL_CACHE = ROOT / ".venv" / "test-model-cache"
TEST_MATCH_VOICES = "af_alloy,af_nova,bf_emma,am_echo,am_michael,bm_lewis"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def client(self, **kwargs: object) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.base_url, api_key=self.key, **kwargs)  # type: ignore[arg-type]

    def http(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.root, headers={"Authorization": f"Bearer {self.key}"}, timeout=300,
                            **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None, port: int | None = None) -> LiveServer:
    """Start `python -m voxgate serve` and wait until /healthz answers."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "VOXGATE_DATA_DIR": str(data_dir), "VOXGATE_PORT": str(port), "VOXGATE_HOST": "127.0.0.1",
        "VOXGATE_BOOTSTRAP_KEY": BOOTSTRAP_KEY, "VOXGATE_CPU_THREADS": "2", "PYTHONUNBUFFERED": "1",
        # Servers share joined weights and derived tables (Kokoro's voice embeddings), built once per run.
        "VOXGATE_MODEL_CACHE": str(MODEL_CACHE),
        # Voice matching over 6 voices and 3 blends, not 28 and 7 (the bench runs the defaults): the same search,
        # a quarter of the syntheses.
        "VOXGATE_VOICE_MATCH_VOICES": TEST_MATCH_VOICES, "VOXGATE_VOICE_MATCH_CANDIDATES": "3",
    })
    if not (extra_env or {}).get("VOXGATE_DATABASE_URL"):
        # a server started again on a data dir shares the first one's store, as it shares its SQLite file
        env.update(_STORES.setdefault(data_dir.resolve(), store_env()))
    env.update(extra_env or {})
    log_path = data_dir / f"server-{port}.log"
    process = subprocess.Popen([sys.executable, "-m", "voxgate", "serve"], cwd=ROOT, env=env,
                               stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
    return LiveServer(f"{base}/v1", BOOTSTRAP_KEY, data_dir, process, log_path, env)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("voxgate-data"))
    try:
        yield live
    finally:
        stop_server(live)


@pytest.fixture(scope="session")
def client(server: LiveServer) -> openai.OpenAI:
    return server.client()


_SERVICES: dict[str, Any] = {}
_STORES: dict[Path, dict[str, str]] = {}


def shared_service(kind: str) -> Any:
    """This test process's PostgreSQL or Redis server, started on first use and stopped at exit."""
    if kind not in _SERVICES:
        import atexit

        from tests.services import start_postgres, start_redis

        _SERVICES[kind] = start_postgres() if kind == "postgres" else start_redis()
        atexit.register(_SERVICES[kind].stop)
    return _SERVICES[kind]


def store_env() -> dict[str, str]:
    """With VOXGATE_TEST_STORE=postgres (make test's second pass), every server the tests start keeps its state
    in a new PostgreSQL database and its rate limits in Redis, instead of its SQLite file."""
    if os.environ.get("VOXGATE_TEST_STORE") != "postgres":
        return {}
    return {"VOXGATE_DATABASE_URL": shared_service("postgres").new_database(),
            "VOXGATE_REDIS_URL": shared_service("redis").new_url()}


@pytest.fixture(scope="session")
def postgres() -> Any:
    """A real PostgreSQL server (Debian's package) on loopback; tests take new databases from it."""
    return shared_service("postgres")


@pytest.fixture(scope="session")
def redis_server() -> Any:
    """A real Redis server on loopback; tests take a flushed numbered database."""
    return shared_service("redis")
