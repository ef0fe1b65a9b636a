"""Voice pipelines (issue 13): admins manage them, a spoken question through /run streams the transcript,
the reply's tokens and its audio in that order, the audio says the reply, history carries across turns,
pipeline-scoped keys are held to their pipeline, and every stage is metered once."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import ROOT, LiveServer
from tests.db import query
from tests.helpers import decode, wav_bytes, wer
from tests.test_chat import settled
from tests.test_gateway import inferences, keyed, new_key

# temperature 0: the same question gets the same answer, so the checks below are deterministic
CHAT_MODELS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m")  # the default: the largest installed
FAST = {"stt_model": "whisper-tiny.en", "llm_model": "smollm2-135m", "tts_model": "tts-1", "voice": "alloy",
        "temperature": 0}


def _pipeline(server: LiveServer, **fields: Any) -> dict[str, Any]:
    with server.http() as http:
        r = http.post("/v1/pipelines", json={"id": f"p-{uuid.uuid4().hex[:8]}", **FAST, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture(scope="module")
def question(client: openai.OpenAI) -> bytes:
    """A spoken question of about 2 s, in Kokoro's voice (the pipeline answers in Piper's)."""
    return client.audio.speech.create(model="kokoro", voice="af_heart", input="What is the capital of France?",
                                      response_format="wav").content


def _run(http: httpx.Client, pipeline_id: str, audio: bytes, **data: str) -> list[dict[str, Any]]:
    events = []
    with http.stream("POST", f"/v1/pipelines/{pipeline_id}/run", files={"file": ("q.wav", audio, "audio/wav")},
                     data=data) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events


def _pcm_wav(events: list[dict[str, Any]]) -> bytes:
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "pipeline.audio.delta")
    return wav_bytes(np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768, 24000)


def test_pipelines_are_managed_by_admins(server: LiveServer) -> None:
    with server.http() as http:
        made = http.post("/v1/pipelines", json={"id": "assistant-defaults"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["object"] == "pipeline" and body["stt_model"] == "whisper-base" and body["tts_model"] == "kokoro"
        assert body["llm_model"] in CHAT_MODELS and body["voice"] == "alloy" and body["max_reply_tokens"] == 120
        assert "assistant-defaults" in {p["id"] for p in http.get("/v1/pipelines").json()["data"]}
        changed = http.patch("/v1/pipelines/assistant-defaults", json={"voice": "nova", "language": "en"})
        assert changed.status_code == 200 and changed.json()["voice"] == "nova" and changed.json()["language"] == "en"
        assert http.get("/v1/pipelines/assistant-defaults").json()["voice"] == "nova"
        bad = {
            "duplicate": ({"id": "assistant-defaults"}, 409, "id"),
            "model id": ({"id": "whisper-1"}, 400, "id"),
            "bad id": ({"id": "no spaces please"}, 400, "id"),
            "unknown model": ({"id": "x1", "llm_model": "gpt-9"}, 404, "llm_model"),
            "wrong task": ({"id": "x2", "tts_model": "whisper-base"}, 400, "tts_model"),
            "voice": ({"id": "x3", "voice": "nobody"}, 400, "voice"),
            "language": ({"id": "x4", "language": "xx"}, 400, "language"),
            "tokens": ({"id": "x5", "max_reply_tokens": 100000}, 400, "max_reply_tokens"),
            "temperature": ({"id": "x7", "temperature": 3}, 400, "temperature"),
            "unknown field": ({"id": "x6", "top_k": 2}, 400, "top_k"),
        }
        for name, (fields, status, param) in bad.items():
            r = http.post("/v1/pipelines", json=fields)
            assert r.status_code == status and r.json()["error"]["param"] == param, (name, r.text)
        assert http.patch("/v1/pipelines/assistant-defaults", json={"voice": "nobody"}).status_code == 400
        _, key = new_key(server)
        plain = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"})
        assert plain.get("/v1/pipelines").status_code == 403
        assert plain.post("/v1/pipelines", json={"id": "mine"}).status_code == 403
        assert http.delete("/v1/pipelines/assistant-defaults").json()["deleted"] is True
        assert http.get("/v1/pipelines/assistant-defaults").status_code == 404


def test_a_spoken_question_streams_transcript_reply_and_audio(server: LiveServer, client: openai.OpenAI,
                                                              question: bytes) -> None:
    pipeline = _pipeline(server)
    with server.http() as http:
        events = _run(http, pipeline["id"], question)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "pipeline.transcript" and kinds[-1] == "pipeline.done", kinds
    assert "pipeline.reply.delta" in kinds and "pipeline.audio.delta" in kinds
    assert kinds.index("pipeline.reply.delta") < kinds.index("pipeline.audio.delta")
    assert wer("What is the capital of France?", events[0]["text"]) <= 0.2, events[0]
    done = events[-1]
    reply = "".join(e["delta"] for e in events if e["type"] == "pipeline.reply.delta")
    assert done["reply"] == reply.strip() and "Paris" in reply, reply  # SmolLM2 at temperature 0
    assert done["transcript"] == events[0]["text"] and done["conversation_id"].startswith("conv_")
    timings = done["timings"]
    assert 0 < timings["stt_ms"] <= timings["llm_first_token_ms"] <= timings["first_audio_ms"] <= timings["total_ms"]
    usage = done["usage"]
    assert usage["llm"]["completion_tokens"] > 0 and usage["tts"]["characters"] >= len("Paris")
    audio = {e["format"] for e in events if e["type"] == "pipeline.audio.delta"}
    assert audio == {"pcm"}
    heard = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", io.BytesIO(_pcm_wav(events)))).text
    # the audio says the reply (Piper reads "Le Grand Paris" as English: 2 of its 8 words come back changed)
    assert wer(reply, heard) <= 0.3, (reply, heard)


def test_one_json_answer_without_streaming_and_two_turns_of_history(server: LiveServer, question: bytes,
                                                                     client: openai.OpenAI) -> None:
    pipeline = _pipeline(server)
    with server.http() as http:
        r = http.post(f"/v1/pipelines/{pipeline['id']}/run", files={"file": ("q.wav", question, "audio/wav")},
                      data={"stream": "false", "response_format": "wav", "conversation_id": "trip-1"})
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["object"] == "pipeline.run" and first["format"] == "wav" and "Paris" in first["reply"]
        decoded = decode(base64.b64decode(first["audio"]))
        assert decoded.sample_rate == 24000 and decoded.duration > 0.5
        follow = client.audio.speech.create(model="kokoro", voice="af_heart", input="And what about Germany?",
                                            response_format="wav").content
        second = _run(http, pipeline["id"], follow, conversation_id="trip-1")[-1]
    assert second["conversation_id"] == "trip-1"
    # the second turn was asked with the first in its context: its prompt holds the first question and answer
    assert second["usage"]["llm"]["prompt_tokens"] > first["usage"]["llm"]["prompt_tokens"] + 8
    (stored,) = query(server, "SELECT messages FROM conversations WHERE id = 'trip-1'")
    messages = json.loads(stored["messages"])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["content"] == first["reply"] and messages[3]["content"] == second["reply"]


def test_a_pipeline_key_is_held_to_its_pipeline(server: LiveServer, question: bytes) -> None:
    pipeline, other = _pipeline(server), _pipeline(server)
    _, key = new_key(server, pipeline=pipeline["id"])
    scoped = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    assert _run(scoped, pipeline["id"], question)[-1]["type"] == "pipeline.done"
    refused = scoped.post(f"/v1/pipelines/{other['id']}/run", files={"file": ("q.wav", question, "audio/wav")})
    assert refused.status_code == 403 and pipeline["id"] in refused.json()["error"]["message"]
    sdk = keyed(server, key)  # its models, and only those, over the other routes
    chat = sdk.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=5)
    assert chat.model == "smollm2-135m"
    assert decode(sdk.audio.speech.create(model="tts-1", voice="alloy", input="Hello.").content).duration > 0.2
    with pytest.raises(openai.PermissionDeniedError) as err:
        sdk.audio.speech.create(model="kokoro", voice="alloy", input="Hello.")
    assert "tts-1" in err.value.message or "piper-joe" in err.value.message
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="qwen2.5-coder-0.5b", messages=[{"role": "user", "content": "Hi"}])


def test_each_stage_is_metered_once(server: LiveServer, question: bytes) -> None:
    pipeline = _pipeline(server)
    key_id, key = new_key(server, credits=1)
    http = httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "turn-1"},
                        timeout=120)
    first = _run(http, pipeline["id"], question)
    again = _run(http, pipeline["id"], question)
    assert again == first  # replayed, not run again
    rows = settled(server, key_id, 3)
    assert [(r["model"], r["unit"]) for r in rows] == [("whisper-tiny.en", "seconds"), ("smollm2-135m", "tokens"),
                                                       ("piper-joe", "characters")]
    assert len({r["request_id"] for r in rows}) == 1
    done = first[-1]
    assert rows[1]["units"] == done["usage"]["llm"]["total_tokens"]
    assert rows[2]["units"] == done["usage"]["tts"]["characters"]
    assert done["credits_used"] == pytest.approx(sum(r["credits_nano"] for r in rows) / 1e9)
    _, poor = new_key(server, credits=0.00001)
    broke = httpx.post(f"{server.root}/v1/pipelines/{pipeline['id']}/run", headers={"Authorization": f"Bearer {poor}"},
                       files={"file": ("q.wav", question, "audio/wav")}, timeout=60)
    assert broke.status_code == 402 and broke.json()["error"]["code"] == "insufficient_credits"


def test_bad_turns_get_clear_errors_and_no_llm_call(server: LiveServer, question: bytes) -> None:
    pipeline = _pipeline(server)
    before = inferences(server).get("smollm2-135m", 0)
    silence = wav_bytes(np.random.default_rng(1).standard_normal(16000 * 3) * 0.0005)
    cases = {
        "silence": (silence, {}, 400, "empty_transcript"),
        "not audio": (b"this is not audio" * 50, {}, 400, None),
        "too long": (wav_bytes(np.zeros(16000 * 130)), {}, 400, "audio_too_long"),
        "format": (question, {"response_format": "ogg"}, 400, None),
        "conversation": (question, {"conversation_id": "spaces are not allowed"}, 400, None),
    }
    with server.http() as http:
        for name, (audio, data, status, code) in cases.items():
            r = http.post(f"/v1/pipelines/{pipeline['id']}/run", files={"file": ("q.wav", audio, "audio/wav")},
                          data=data)
            assert r.status_code == status, (name, r.text)
            assert code is None or r.json()["error"]["code"] == code, (name, r.text)
        assert http.post("/v1/pipelines/nope/run", files={"file": ("q.wav", question, "audio/wav")}).status_code == 404
    assert inferences(server).get("smollm2-135m", 0) == before  # silence never reached the LLM


def test_a_reply_over_its_budget_is_cut_at_a_sentence_end(server: LiveServer, client: openai.OpenAI) -> None:
    pipeline = _pipeline(server, max_reply_tokens=25)
    ask = client.audio.speech.create(model="kokoro", voice="af_heart", input="Tell me about the city of Paris.",
                                     response_format="wav").content
    with server.http() as http:
        events = _run(http, pipeline["id"], ask)
    done = events[-1]
    written = "".join(e["delta"] for e in events if e["type"] == "pipeline.reply.delta")
    assert done["truncated"] is True and done["usage"]["llm"]["completion_tokens"] == 25
    assert done["reply"] and done["reply"][-1] in ".!?" and len(done["reply"]) < len(written.strip()), done["reply"]
    assert written.startswith(done["reply"])
    assert done["usage"]["tts"]["characters"] <= len(done["reply"])  # only what is kept is spoken


def test_cli_manages_pipelines(server: LiveServer) -> None:
    env = dict(server.env, VOXGATE_DATA_DIR=str(server.data_dir), COLUMNS="200")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "voxgate", "pipelines", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    made = cli("create", "cli-pipeline", "--voice", "nova", "--max-reply-tokens", "60")
    assert made.returncode == 0, made.stderr
    assert "cli-pipeline" in cli("list").stdout
    shown = json.loads(cli("show", "cli-pipeline").stdout)
    assert shown["voice"] == "nova" and shown["max_reply_tokens"] == 60
    assert cli("set", "cli-pipeline", "--voice", "nobody").returncode == 2
    scoped = subprocess.run([sys.executable, "-m", "voxgate", "keys", "create", "--pipeline", "cli-pipeline"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert scoped.returncode == 0 and scoped.stdout.strip().startswith("vg_"), scoped.stderr
    with server.http() as http:  # the server sees what the CLI stored
        assert http.get("/v1/pipelines/cli-pipeline").json()["voice"] == "nova"
    assert cli("delete", "cli-pipeline").returncode == 0
    assert cli("show", "cli-pipeline").returncode == 1


def test_the_voxgate_sdk_chats_and_runs_a_turn(server: LiveServer, question: bytes, tmp_path: Any) -> None:
    from voxgate import Client
    from voxgate.sdk import write_reply_audio
    from voxgate.sdk.types import (
        ChatCompletion,
        PipelineAudioDeltaEvent,
        PipelineDoneEvent,
        PipelineRun,
        PipelineTranscriptEvent,
    )

    pipeline = _pipeline(server)
    with Client(api_key=server.key, base_url=server.base_url, timeout=120) as sdk:
        answer = sdk.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Say hello."}],
                                             max_tokens=8)
        assert isinstance(answer, ChatCompletion) and answer.choices[0].message.content
        chunks = list(sdk.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi"}],
                                                  max_tokens=8, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        out = tmp_path / "reply.pcm"
        events = write_reply_audio(sdk.voice.pipeline.create(pipeline_id=pipeline["id"], file=question), out)
        whole = sdk.voice.pipeline.create(pipeline_id=pipeline["id"], file=question, stream=False,
                                          response_format="mp3")
    assert isinstance(events[0], PipelineTranscriptEvent) and isinstance(events[-1], PipelineDoneEvent)
    pcm = b"".join(e.data for e in events if isinstance(e, PipelineAudioDeltaEvent))
    assert out.read_bytes() == pcm and len(pcm) > 24000  # over half a second of 16-bit audio
    assert isinstance(whole, PipelineRun) and decode(whole.audio_bytes).duration > 0.5 and whole.reply
