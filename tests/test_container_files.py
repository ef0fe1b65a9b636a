"""The Dockerfile and compose.yaml (issue 15), checked without a Docker daemon (none on these machines): what they
copy exists, the install step is the Makefile's, the command is the installed console script, and compose builds
this directory with the data in a volume. Building the image itself is left to a machine with Docker."""

from __future__ import annotations

import re
import subprocess
import tomllib

import yaml

from tests.conftest import ROOT


def test_dockerfile_copies_what_exists_and_runs_make_install() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copied = [name for line in re.findall(r"^COPY (.+)$", text, re.M) for name in line.split()[:-1]]
    assert copied and all((ROOT / name).exists() for name in copied), copied
    assert "RUN make install" in text
    dry = subprocess.run(["make", "-n", "install"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert re.search(r'^CMD \["voxgate", "serve"\]$', text, re.M) and "voxgate" in scripts
    assert "VOXGATE_HOST=0.0.0.0" in text and "VOXGATE_DATA_DIR=/data" in text and "/healthz" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".voxgate"} <= set(ignored)


def test_compose_builds_this_directory_with_a_data_volume() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["voxgate"]
    assert service["build"] == "." and service["ports"] == ["127.0.0.1:8000:8000"]
    assert service["volumes"] == ["voxgate-data:/data"] and "voxgate-data" in compose["volumes"]


def test_the_scale_out_compose_shares_one_store() -> None:
    compose = yaml.safe_load((ROOT / "compose.scale.yaml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("replica")]
    assert len(replicas) == 2
    for replica in replicas:
        env = replica["environment"]
        assert env["VOXGATE_DATABASE_URL"].startswith("postgresql://") and env["VOXGATE_REDIS_URL"].startswith("redis")
        assert env["VOXGATE_SHARED_DIR"] == "/shared" and "shared:/shared" in replica["volumes"]
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server replica1:8000;" in conf and "server replica2:8000;" in conf and "proxy_buffering off" in conf
