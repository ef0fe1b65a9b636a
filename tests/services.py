"""Real PostgreSQL and Redis servers for the tests, from Debian's packages (`make test` installs them when
missing), on loopback ports with throwaway data dirs. PostgreSQL refuses to run as root, so as root it runs as
the `postgres` user the package creates."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from tests.conftest import free_port


def _end(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: `make test` installs Debian's postgresql package")
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Postgres:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    databases: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://voxgate@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on this server: one test's (or one replica set's) throwaway store."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        _end(self.process, 20)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> Postgres:
    directory = Path(tempfile.mkdtemp(prefix="voxgate-pg-"))  # not under pytest's 0700 root-only tree
    data = directory / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(data), "-U", "voxgate", "--auth=trust",
                                 "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)
    port = free_port()
    log = (directory / "postgres.log").open("wb")
    process = subprocess.Popen(_as_postgres([
        _pg_bin("postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
        "-c", f"unix_socket_directories={directory}", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off", "-c", "max_connections=300"]), stdout=log, stderr=subprocess.STDOUT)
    server = Postgres(port, directory, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return server
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {(directory / 'postgres.log').read_text()}") from None
            time.sleep(0.2)


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]
    next_db: int = 0

    def new_url(self) -> str:
        """A URL on one of the server's 16 numbered databases, flushed: one test's throwaway limits."""
        db = self.next_db % 16
        self.next_db += 1
        url = f"redis://127.0.0.1:{self.port}/{db}"
        redis.Redis.from_url(url).flushdb()
        return url

    def stop(self) -> None:
        _end(self.process, 10)


def start_redis() -> Redis:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: `make test` installs Debian's redis-server package")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--protected-mode", "yes"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Redis(port, process)
    deadline = time.monotonic() + 30
    while True:
        try:
            redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping()
            return server
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.1)
