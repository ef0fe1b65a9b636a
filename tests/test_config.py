"""The one Settings object: every section reads its documented VOXGATE_* variables, a bad value names its
variable, and the paths derived from the data dir are named once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxgate.config import GatewaySettings, JobSettings, Settings, SettingsError, env_name


def test_sections_read_their_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {"VOXGATE_PORT": "9123", "VOXGATE_DATA_DIR": str(tmp_path / "d"), "VOXGATE_GATEWAY": "off",
                        "VOXGATE_DEFAULT_RPM": "7", "VOXGATE_ASR_WORKERS": "3", "VOXGATE_JOB_WORKERS": "0",
                        "VOXGATE_WEBHOOK_TIMEOUT_S": "2.5", "VOXGATE_MAX_UPLOAD_BYTES": "1000",
                        "VOXGATE_BOOTSTRAP_KEY": "secret", "VOXGATE_CPU_THREADS": ""}.items():
        monkeypatch.setenv(name, value)
    s = Settings.from_env()
    assert s.server.port == 9123 and s.data_dir == (tmp_path / "d").resolve()
    assert s.gateway.enabled is False and s.gateway.default_rpm == 7 and s.gateway.bootstrap_key == "secret"
    assert s.asr.workers == 3 and s.jobs.workers == 0 and s.webhooks.timeout_s == 2.5
    assert s.limits.max_upload_bytes == 1000
    assert s.server.cpu_threads >= 1, "an empty variable means the default"
    assert s.db_path == s.data_dir / "voxgate.sqlite3" and s.jobs_dir == s.data_dir / "jobs"


def test_catalog_files_are_the_same_for_every_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOXGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VOXGATE_CATALOG", str(tmp_path / "extra.toml"))
    assert Settings.from_env().catalog_files == (tmp_path / "extra.toml", tmp_path.resolve() / "catalog.toml")
    monkeypatch.delenv("VOXGATE_CATALOG")
    assert Settings.from_env().catalog_files == (tmp_path.resolve() / "catalog.toml",)


@pytest.mark.parametrize("name, value", [("VOXGATE_JOB_WORKERS", "many"), ("VOXGATE_PORT", "http"),
                                         ("VOXGATE_GATEWAY", "maybe"), ("VOXGATE_DEFAULT_RPM", "-1"),
                                         ("VOXGATE_WEBHOOK_MAX_ATTEMPTS", "0")])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert name in str(err.value) and repr(value) in str(err.value)


def test_env_names_follow_the_section_prefix() -> None:
    assert env_name(JobSettings, "lease_s") == "VOXGATE_JOB_LEASE_S"
    assert env_name(GatewaySettings, "enabled") == "VOXGATE_GATEWAY"
    assert env_name(GatewaySettings, "default_concurrency") == "VOXGATE_DEFAULT_CONCURRENCY"


def test_the_cli_reports_a_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from voxgate.cli import app

    monkeypatch.setenv("VOXGATE_JOB_LEASE_S", "soon")
    result = CliRunner().invoke(app, ["keys", "list"])
    assert result.exit_code == 2 and "VOXGATE_JOB_LEASE_S" in result.output


def test_one_default_data_dir_wherever_commands_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The server and the CLI agree on a per-user data dir, not the current directory; a CLI command about to
    create a database says where; `keys list --json` gives whole ids."""
    from typer.testing import CliRunner

    from voxgate.cli import app

    monkeypatch.delenv("VOXGATE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env().data_dir == (tmp_path / "xdg" / "voxgate").resolve()
    monkeypatch.chdir(tmp_path / "xdg" if (tmp_path / "xdg").exists() else tmp_path)
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--name", "here"])
    assert made.exit_code == 0, made.output
    assert "creating a new, empty one" in made.output and str(tmp_path / "xdg" / "voxgate") in made.output
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0 and "creating" not in listed.output
    keys = json.loads(listed.stdout)
    assert [k["name"] for k in keys] == ["here"] and keys[0]["id"].startswith("key_")
    table = runner.invoke(app, ["keys", "list"], terminal_width=60)
    assert keys[0]["id"] in table.output  # whole, however narrow the terminal


def test_serve_fails_on_a_busy_port_before_it_starts_anything(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = {**os.environ, "VOXGATE_DATA_DIR": str(tmp_path), "VOXGATE_PORT": str(port)}
        done = subprocess.run([sys.executable, "-m", "voxgate", "serve"], env=env, capture_output=True, text=True,
                              timeout=60, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "serving on" not in done.stdout and "job runner" not in done.stdout + done.stderr
    assert not (tmp_path / "voxgate.sqlite3").exists()  # nothing was created either
