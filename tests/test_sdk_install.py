"""The SDK-only install (issue 15): `pip install voxgate` into a new virtual environment pulls httpx and nothing
of the server, imports without it, and talks to a live server; the `voxgate` command there says what to install."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT, LiveServer

SERVER_ONLY = {"fastapi", "uvicorn", "numpy", "av", "faster-whisper", "ctranslate2", "onnxruntime", "piper-tts",
               "pydantic", "typer", "prometheus-client", "spacy", "scipy"}


@pytest.fixture(scope="module")
def sdk_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with this repo installed as `pip install voxgate` would (a copy of the sources: pip builds in
    the tree it is given, and the checkout stays clean)."""
    base = tmp_path_factory.mktemp("sdk-install")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "voxgate", source / "voxgate", ignore=shutil.ignore_patterns("__pycache__"))
    env = base / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def _installed(env: Path) -> set[str]:
    listed = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "list", "--format=freeze",
                             "--disable-pip-version-check"], capture_output=True, text=True, check=True).stdout
    return {line.split("==")[0].lower().replace("_", "-") for line in listed.splitlines() if "==" in line}


def test_the_sdk_install_pulls_only_httpx(sdk_env: Path) -> None:
    installed = _installed(sdk_env)
    assert {"voxgate", "httpx"} <= installed
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    # httpx and what httpx needs, the installer's own tools, nothing else
    assert installed <= {"voxgate", "httpx", "httpcore", "h11", "anyio", "idna", "sniffio", "certifi",
                         "typing-extensions", "exceptiongroup", "pip", "setuptools", "wheel"}, installed


def test_the_sdk_alone_calls_the_server(sdk_env: Path, server: LiveServer) -> None:
    script = textwrap.dedent(f"""
        import sys
        from voxgate import Client
        client = Client(api_key={server.key!r}, base_url={server.base_url!r})
        ids = [m.id for m in client.models.list().data]
        assert "whisper-1" in ids and "tts-1" in ids, ids
        audio = client.audio.speech.create(model="tts-1", voice="alloy", input="Only the client is here.",
                                           response_format="wav").content
        heard = client.audio.transcriptions.create(model="whisper-1", file=("sdk.wav", audio))
        print(heard.text)
        assert not any(name.startswith(("fastapi", "numpy", "voxgate.app")) for name in sys.modules)
    """)
    done = subprocess.run([str(sdk_env / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=sdk_env)  # not the checkout: the installed copy is imported
    assert done.returncode == 0, done.stderr[-3000:]
    assert "only the client is here" in done.stdout.lower()


def test_the_command_says_the_server_needs_its_extra(sdk_env: Path) -> None:
    done = subprocess.run([str(sdk_env / "bin" / "voxgate"), "serve"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "pip install 'voxgate[server]'" in done.stderr, done.stderr
