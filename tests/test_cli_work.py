"""`voxgate transcribe` and `voxgate speak` (issue 15): on a running server with --server/--key (the SDK inside,
no models loaded by the command), and here with --diarize and --redact. Outputs are decoded and scored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, LiveServer
from tests.helpers import DATA, decode, librivox_clips, wer
from tests.test_diarization_redaction_api import PII_SUBSTRINGS, PII_TEXT


def voxgate(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_speak_and_transcribe_on_a_running_server(server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "said.wav"
    text = "The meeting moved to Thursday at noon."
    made = voxgate("speak", text, "-o", str(out), "--model", "tts-1", "--voice", "nova", "--format", "wav",
                   "--server", server.root, "--key", server.key)
    assert made.returncode == 0, made.stderr
    audio = decode(out.read_bytes())
    assert audio.codec.startswith("pcm") and audio.duration > 1.5
    heard = voxgate("transcribe", str(out), "--model", "whisper-1", "--server", f"{server.root}/v1",
                    env={"VOXGATE_API_KEY": server.key})
    assert heard.returncode == 0, heard.stderr
    assert wer(text, heard.stdout) <= 0.15, heard.stdout
    # the work ran on the server: it is in the key's usage there
    with server.http() as http:
        rows = http.get("/v1/usage").json()["data"]
    assert {"piper-joe", "whisper-base"} <= {r["model"] for r in rows}


def test_remote_diarize_and_redact(server: LiveServer, tmp_path: Path) -> None:
    two = voxgate("transcribe", str(DATA / "diarize_two_voices.wav"), "--format", "diarized_json", "--diarize",
                  "--server", server.root, "--key", server.key)
    assert two.returncode == 0, two.stderr
    segments = json.loads(two.stdout)["segments"]
    assert {s["speaker"] for s in segments} == {"A", "B"}
    pii = tmp_path / "pii.wav"
    pii.write_bytes(server.client().audio.speech.create(model="tts-1", voice="alloy", input=PII_TEXT,
                                                        response_format="wav").content)
    masked = voxgate("transcribe", str(pii), "--redact", "all", "--server", server.root, "--key", server.key)
    assert masked.returncode == 0, masked.stderr
    assert "[REDACTED_PHONE]" in masked.stdout and "[REDACTED_EMAIL]" in masked.stdout
    assert not [p for p in PII_SUBSTRINGS if p in masked.stdout.lower()], masked.stdout


def test_remote_refusals_are_clear(server: LiveServer) -> None:
    clip, _ = librivox_clips()[1]
    refused = voxgate("transcribe", str(clip), "--server", server.root, "--key", "vg_live_wrong")
    assert refused.returncode == 2 and "the server refused" in refused.stderr and "401" in refused.stderr
    gone = voxgate("transcribe", str(clip), "--server", "http://127.0.0.1:9", "--key", server.key)
    assert gone.returncode == 1 and "cannot reach the server" in gone.stderr
    bad = voxgate("transcribe", str(clip), "--server", server.root, "--key", server.key, "--redact", "shoe-size")
    assert bad.returncode == 2 and "shoe-size" in bad.stderr


def test_local_transcribe_diarizes_and_redacts(server: LiveServer, tmp_path: Path) -> None:
    pii = tmp_path / "pii.wav"
    pii.write_bytes(server.client().audio.speech.create(model="tts-1", voice="alloy", input=PII_TEXT,
                                                        response_format="wav").content)
    env = {"VOXGATE_DATA_DIR": str(tmp_path / "data"), "VOXGATE_MODEL_CACHE": server.env["VOXGATE_MODEL_CACHE"]}
    masked = voxgate("transcribe", str(pii), "--redact", "phone,email", env=env)
    assert masked.returncode == 0, masked.stderr
    assert "[REDACTED_PHONE]" in masked.stdout and "[REDACTED_EMAIL]" in masked.stdout
    assert "Maria" in masked.stdout  # names were not asked for
    two = voxgate("transcribe", str(DATA / "diarize_two_voices.wav"), "--diarize", "--format", "text", env=env)
    assert two.returncode == 0, two.stderr
    turns = [line.split(":", 1)[0] for line in two.stdout.splitlines() if line.strip()]
    assert len(turns) == 5 and len(set(turns)) == 2, two.stdout
