"""The gateway against a live server: idempotent replay (in one process and across two sharing the
store), request ids, key scopes, rate limits with the SDK's own retry, credits and usage metering.

Inference counts come from GET /v1/admin/stats (kept by the services); ledger rows are read from the
server's SQLite file, the same one /v1/usage reads."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.db import on_postgres, query
from tests.helpers import LIBRIVOX

SHORT_CLIP = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # 3.0 s
LONG_CLIP = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"  # 7.1 s
FAST_ASR = "whisper-tiny.en"


def admin(server: LiveServer) -> httpx.Client:
    return server.http()


def new_key(server: LiveServer, **policy: Any) -> tuple[str, str]:
    """Create a key over the admin API; returns (key id, plain key)."""
    with admin(server) as http:
        r = http.post("/v1/admin/keys", json={"name": f"test-{uuid.uuid4().hex[:6]}", **policy})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


def keyed(server: LiveServer, key: str, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key=key, **kwargs)


def inferences(server: LiveServer) -> dict[str, int]:
    with admin(server) as http:
        return dict(http.get("/v1/admin/stats").json()["inferences"])


def total_inferences(*servers: LiveServer) -> int:
    return sum(sum(inferences(s).values()) for s in servers)


def ledger(server: LiveServer, key_id: str) -> list[dict[str, Any]]:
    return query(server, "SELECT * FROM ledger WHERE key_id = ? ORDER BY id", (key_id,))


def idem() -> dict[str, str]:
    return {"Idempotency-Key": "test-" + uuid.uuid4().hex}


# -- idempotency ------------------------------------------------------------------------------------


def test_twenty_concurrent_identical_requests_run_one_inference(server: LiveServer) -> None:
    key_id, key = new_key(server)
    client = keyed(server, key)
    headers = idem()
    audio = LONG_CLIP.read_bytes()
    before = total_inferences(server)

    def transcribe(_: int) -> tuple[str | None, bytes]:
        # every SDK call builds its own multipart body with a fresh boundary: still the same request
        raw = client.audio.transcriptions.with_raw_response.create(model=FAST_ASR, file=audio, extra_headers=headers)
        return raw.headers.get("idempotent-replayed"), raw.content

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(transcribe, range(20)))

    assert total_inferences(server) - before == 1
    assert len({body for _, body in results}) == 1, "every caller gets the same bytes"
    assert sorted(flag or "" for flag, _ in results) == [""] + ["true"] * 19
    body = json.loads(results[0][1])
    assert "dashwood" in body["text"].lower() and body["credits_used"] > 0
    rows = ledger(server, key_id)
    assert len(rows) == 1 and rows[0]["units"] == 8 and rows[0]["unit"] == "seconds"


def test_streamed_mp3_replay_is_byte_identical(server: LiveServer) -> None:
    client = server.client()
    headers = idem()
    text = "Replay me. A second sentence, so the audio streams in more than one piece."
    before = inferences(server).get("piper-joe", 0)
    bodies, replayed = [], []
    for _ in range(2):
        with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text,
                                                                response_format="mp3", extra_headers=headers) as r:
            bodies.append(b"".join(r.iter_bytes()))
            replayed.append(r.headers.get("idempotent-replayed"))
            assert r.headers["content-type"] == "audio/mpeg"
            assert float(r.headers["x-credits-used"]) > 0
    assert bodies[0] == bodies[1] and len(bodies[0]) > 1000
    assert replayed == [None, "true"]
    assert inferences(server)["piper-joe"] - before == 1


def test_streamed_sse_transcription_replay_is_byte_identical(server: LiveServer) -> None:
    headers = idem()
    with server.http() as http:
        first, second = (http.post("/v1/audio/transcriptions", headers=headers,
                                   files={"file": ("a.wav", SHORT_CLIP.read_bytes())},
                                   data={"model": FAST_ASR, "stream": "true"}) for _ in range(2))
    assert first.headers["content-type"].startswith("text/event-stream")
    assert first.content == second.content and first.content.endswith(b"data: [DONE]\n\n")
    assert second.headers["idempotent-replayed"] == "true"


def test_same_key_different_request_is_422(server: LiveServer) -> None:
    client = server.client()
    headers = idem()
    client.audio.speech.create(model="tts-1", voice="alloy", input="One request.", extra_headers=headers)
    before = total_inferences(server)
    for change in ({"input": "Another request."}, {"input": "One request.", "speed": 1.5}):
        with pytest.raises(openai.UnprocessableEntityError) as err:
            client.audio.speech.create(**{"model": "tts-1", "voice": "alloy", **change},  # type: ignore[arg-type]
                                       extra_headers=headers)
        assert err.value.code == "idempotency_key_reused"
    # different file bytes under a transcription key
    tx_headers = idem()
    client.audio.transcriptions.create(model=FAST_ASR, file=SHORT_CLIP.read_bytes(), extra_headers=tx_headers)
    with pytest.raises(openai.UnprocessableEntityError):
        client.audio.transcriptions.create(model=FAST_ASR, file=SHORT_CLIP.read_bytes()[:-3200],
                                           extra_headers=tx_headers)
    assert total_inferences(server) - before == 1  # only the first transcription ran
    # Idempotency-Keys are per API key: another key may use the same value for its own request
    _, other = new_key(server)
    r = keyed(server, other).audio.speech.with_raw_response.create(model="tts-1", voice="alloy",
                                                                   input="Another request.", extra_headers=headers)
    assert r.headers.get("idempotent-replayed") is None


def test_429_is_not_stored_so_a_retry_runs(server: LiveServer) -> None:
    key_id, key = new_key(server, rpm=1)
    headers = idem()
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        assert http.get("/v1/models").status_code == 200  # spends the only token
        body = {"model": "tts-1", "voice": "alloy", "input": "Not yet.", "response_format": "wav"}
        assert http.post("/v1/audio/speech", json=body, headers=headers).status_code == 429
        with admin(server) as a:
            assert a.patch(f"/v1/admin/keys/{key_id}", json={"rpm": 0}).status_code == 200
        r = http.post("/v1/audio/speech", json=body, headers=headers)
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers


@pytest.fixture(scope="module")
def second_server(server: LiveServer) -> Iterator[LiveServer]:
    """Another server process on the same data dir (the same SQLite store), with a short idempotency wait."""
    other = start_server(server.data_dir, {"VOXGATE_IDEMPOTENCY_WAIT_S": "0.1"})
    try:
        yield other
    finally:
        stop_server(other)


def _claimed(server: LiveServer, idem_key: str) -> bool:
    return bool(query(server, "SELECT 1 FROM idempotency WHERE idem_key = ?", (idem_key,)))


def test_in_progress_across_processes_409_then_replay(server: LiveServer, second_server: LiveServer) -> None:
    key_id, key = new_key(server)
    headers = idem()
    audio = LONG_CLIP.read_bytes()
    before = total_inferences(server, second_server)
    first: dict[str, httpx.Response] = {}

    def run_on_first() -> None:
        with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            first["r"] = http.post("/v1/audio/transcriptions", headers=headers, files={"file": ("a.wav", audio)},
                                   data={"model": "whisper-base", "response_format": "verbose_json"})

    thread = threading.Thread(target=run_on_first)
    thread.start()
    deadline = time.monotonic() + 30
    while not _claimed(server, headers["Idempotency-Key"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    # the other process waits 0.1 s, then says "in progress" with Retry-After; it never starts a second run
    with httpx.Client(base_url=second_server.root, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
        busy = http.post("/v1/audio/transcriptions", headers=headers, files={"file": ("b.wav", audio)},
                         data={"model": "whisper-base", "response_format": "verbose_json"})
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"]["code"] == "idempotency_in_progress"
    assert int(busy.headers["retry-after"]) >= 1
    # the SDK retries 409 by itself and ends with the first process's stored result
    client = keyed(second_server, key, max_retries=20)
    raw = client.audio.transcriptions.with_raw_response.create(model="whisper-base", file=audio,
                                                               response_format="verbose_json", extra_headers=headers)
    thread.join()
    assert first["r"].status_code == 200
    assert raw.headers["idempotent-replayed"] == "true" and raw.content == first["r"].content
    assert total_inferences(server, second_server) - before == 1
    assert len(ledger(server, key_id)) == 1


# -- request ids and the access log -------------------------------------------------------------------


def test_request_ids_and_access_log(server: LiveServer) -> None:
    key_id, key = new_key(server)
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        health = http.get("/healthz")
        r = http.post("/v1/audio/speech", headers={"X-Client-Request-Id": "client-42"},
                      json={"model": "tts-1", "voice": "alloy", "input": "Trace me.", "response_format": "wav"})
        missing = http.get("/v1/nope")
    for resp in (health, r, missing):
        assert resp.headers["x-request-id"].startswith("req_")
    assert r.headers["x-client-request-id"] == "client-42"
    request_id = r.headers["x-request-id"]
    time.sleep(0.2)
    lines = [json.loads(line.split(" voxgate.access ", 1)[1]) for line in server.log().splitlines()
             if " voxgate.access {" in line]
    entry = next(e for e in lines if e["request_id"] == request_id)
    assert entry["client_request_id"] == "client-42" and entry["key_id"] == key_id
    assert entry["model"] == "piper-joe" and entry["units"] == len("Trace me.") and entry["status"] == 200
    assert entry["method"] == "POST" and entry["route"] == "/v1/audio/speech" and entry["ms"] > 0
    assert key not in server.log()


# -- scopes ------------------------------------------------------------------------------------------


def test_pipeline_key_is_refused_other_models(server: LiveServer) -> None:
    _, key = new_key(server, pipeline="tts-1")  # stored as the catalog id piper-joe
    client = keyed(server, key)
    assert client.audio.speech.create(model="piper", voice="alloy", input="Alias is fine.").content
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        r = http.post("/v1/audio/speech", json={"voice": "alloy", "input": "No model named.",
                                                "response_format": "wav"})
        assert r.status_code == 200  # a pipeline key may omit the model
    with pytest.raises(openai.PermissionDeniedError) as err:
        client.audio.transcriptions.create(model="whisper-1", file=SHORT_CLIP.read_bytes())
    assert err.value.code == "forbidden" and "piper-joe" in err.value.message
    with pytest.raises(openai.PermissionDeniedError):
        client.audio.speech.create(model="some-other-voice-model", voice="alloy", input="x")


# -- rate limits -------------------------------------------------------------------------------------


def test_rate_limit_429_then_sdk_retry_succeeds(server: LiveServer) -> None:
    _, key = new_key(server, rpm=60, concurrency=0)
    statuses: list[int] = []
    http_client = openai.DefaultHttpxClient(event_hooks={"response": [lambda resp: statuses.append(resp.status_code)]})
    sdk = keyed(server, key, max_retries=2, http_client=http_client)
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        for _ in range(100):
            r = http.get("/v1/models")
            if r.status_code == 429:
                break
            assert r.headers["x-ratelimit-limit-requests"] == "60"
            assert int(r.headers["x-ratelimit-remaining-requests"]) >= 0
            assert r.headers["x-ratelimit-reset-requests"]
        assert r.status_code == 429, "the burst of 60 must run out"
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 2 and 0 < int(r.headers["retry-after-ms"]) <= 1000
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    models = sdk.models.list()  # 429 first, then the SDK waits retry-after-ms and succeeds
    assert models.data and statuses == [429, 200]


def test_concurrency_limit_429_then_sdk_retry_succeeds(server: LiveServer) -> None:
    _, key = new_key(server, concurrency=1, rpm=0)
    audio = LONG_CLIP.read_bytes()
    done: dict[str, int] = {}

    def slow() -> None:
        with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            done["status"] = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", audio)},
                                       data={"model": "whisper-base", "temperature": "0.1"}).status_code

    thread = threading.Thread(target=slow)
    thread.start()
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        while thread.is_alive():  # the slow request holds the only slot: the next one is refused
            r = http.get("/v1/models")
            if r.status_code == 429:
                break
            time.sleep(0.05)
    assert r.status_code == 429 and r.headers["retry-after-ms"] and r.headers["retry-after"]
    assert r.json()["error"]["code"] == "rate_limited"
    assert r.headers["x-ratelimit-remaining-concurrency"] == "0"
    statuses: list[int] = []
    http_client = openai.DefaultHttpxClient(event_hooks={"response": [lambda resp: statuses.append(resp.status_code)]})
    sdk = keyed(server, key, max_retries=40, http_client=http_client)  # 0.5 s apart: outlasts a busy machine
    assert sdk.models.list().data
    thread.join()
    assert done["status"] == 200 and statuses[-1] == 200


# -- credits and usage -------------------------------------------------------------------------------


def test_credits_run_out_with_402_and_no_inference(server: LiveServer) -> None:
    # piper-joe costs 0.000015 credits per character: 0.0003 pays for 20 characters
    key_id, key = new_key(server, credits=0.0003)
    client = keyed(server, key)
    text = "Twelve chars"
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text,
                                                       extra_headers={"Idempotency-Key": "credits-1"})
    assert float(raw.headers["x-credits-used"]) == pytest.approx(0.00018)
    replay = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text,
                                                          extra_headers={"Idempotency-Key": "credits-1"})
    assert replay.headers["idempotent-replayed"] == "true"  # replays are never charged
    before = total_inferences(server)
    with pytest.raises(openai.APIStatusError) as err:
        client.audio.speech.create(model="tts-1", voice="alloy", input=text)
    assert err.value.status_code == 402 and err.value.code == "insufficient_credits"
    assert total_inferences(server) == before, "402 comes before any inference"
    credits = client.get("/credits", cast_to=object)
    assert credits["balance"] == pytest.approx(0.00012) and credits["unlimited"] is False  # type: ignore[index]
    assert len(ledger(server, key_id)) == 1

    # transcription: 402 after decoding (3 s of whisper-tiny.en = 0.00015) but before the engine runs
    tx_id, tx_key = new_key(server, credits=0.0001)
    with pytest.raises(openai.APIStatusError) as err:
        keyed(server, tx_key).audio.transcriptions.create(model=FAST_ASR, file=SHORT_CLIP.read_bytes())
    assert err.value.status_code == 402 and "0.00015" in err.value.message
    assert total_inferences(server) == before and ledger(server, tx_id) == []
    with admin(server) as http:  # top up over the admin API, and it runs
        assert http.post(f"/v1/admin/keys/{tx_id}", json={"add_credits": 0.0001}).json()["credits"] == 0.0002
    result = keyed(server, tx_key).audio.transcriptions.create(model=FAST_ASR, file=SHORT_CLIP.read_bytes())
    assert result.model_extra and result.model_extra["credits_used"] == pytest.approx(0.00015)


def test_usage_totals_match_the_ledger(server: LiveServer) -> None:
    key_id, key = new_key(server, credits=10)
    client = keyed(server, key)
    charged = 0.0
    for text in ("First line.", "Second, longer line of text."):
        raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text)
        charged += float(raw.headers["x-credits-used"])
    tx = client.audio.transcriptions.create(model=FAST_ASR, file=SHORT_CLIP.read_bytes(),
                                            response_format="verbose_json")
    charged += tx.model_extra["credits_used"]  # type: ignore[index]
    usage: Any = client.get("/usage", cast_to=object)
    rows = ledger(server, key_id)
    assert usage["total"]["requests"] == len(rows) == 3
    assert usage["total"]["credits"] == pytest.approx(sum(r["credits_nano"] for r in rows) / 1e9) == \
        pytest.approx(charged)
    by_model = {m["model"]: m for m in usage["by_model"]}
    assert by_model["piper-joe"]["units"] == len("First line.") + len("Second, longer line of text.")
    assert by_model[FAST_ASR]["units"] == 3 and by_model[FAST_ASR]["unit"] == "seconds"
    credits: Any = client.get("/credits", cast_to=object)
    assert credits["balance"] == pytest.approx(10 - charged) and credits["used"] == pytest.approx(charged)
    empty: Any = client.get("/usage", cast_to=object, options={"params": {"end_date": "2000-01-01"}})
    assert empty["data"] == [] and empty["total"]["requests"] == 0
    with pytest.raises(openai.BadRequestError):
        client.get("/usage", cast_to=object, options={"params": {"start_date": "yesterday"}})
    with pytest.raises(openai.PermissionDeniedError):  # only admins read other keys' usage
        client.get("/usage", cast_to=object, options={"params": {"key_id": "key_bootstrap"}})


# -- key management ----------------------------------------------------------------------------------


def test_admin_keys_api(server: LiveServer) -> None:
    with admin(server) as http:
        created = http.post("/v1/admin/keys", headers=idem(), json={"name": "ops", "pipeline": "whisper-1",
                                                                      "credits": 1.5, "rpm": 30, "concurrency": 2})
        assert created.status_code == 201
        info = created.json()
        plain = info.pop("key")
        assert plain.startswith("vg_live_") and info["pipeline"] == "whisper-base"
        listed = http.get("/v1/admin/keys").json()["data"]
        assert any(k["id"] == info["id"] and "key" not in k for k in listed)
        updated = http.patch(f"/v1/admin/keys/{info['id']}", json={"pipeline": None, "credits": None, "rpm": 5})
        assert updated.json()["pipeline"] is None and updated.json()["credits"] is None and updated.json()["rpm"] == 5
        assert http.patch(f"/v1/admin/keys/{info['id']}", json={"pipeline": "no-such-model"}).status_code == 400
        with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {plain}"}) as user:
            assert user.get("/v1/models").status_code == 200
            denied = user.get("/v1/admin/keys")
            assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
            assert http.delete(f"/v1/admin/keys/{info['id']}").status_code == 200
            assert user.get("/v1/models").status_code == 401
        assert http.delete(f"/v1/admin/keys/{info['id']}").status_code == 404
    if on_postgres(server):
        stored = repr(query(server, "SELECT * FROM api_keys")).encode()
    else:
        wal = server.data_dir / "voxgate.sqlite3-wal"
        stored = (server.data_dir / "voxgate.sqlite3").read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert plain.encode() not in stored, "keys are stored hashed only"


def test_cli_keys_commands(server: LiveServer) -> None:
    import subprocess
    import sys

    env = {**server.env, "VOXGATE_DATA_DIR": str(server.data_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "voxgate", "keys", *args], env=env, capture_output=True,
                              text=True, timeout=60, cwd=Path(__file__).resolve().parents[1])

    made = cli("create", "--name", "cli", "--pipeline", "tts-1", "--credits", "0.5", "--rpm", "10")
    assert made.returncode == 0, made.stderr
    plain = made.stdout.strip()
    assert plain.startswith("vg_live_") and plain not in made.stderr
    client = keyed(server, plain)
    key_id = client.get("/credits", cast_to=object)["key_id"]  # type: ignore[index]
    assert cli("set", key_id, "--add-credits", "0.25", "--workspace").returncode == 0
    assert client.get("/credits", cast_to=object)["balance"] == pytest.approx(0.75)  # type: ignore[index]
    assert client.audio.transcriptions.create(model=FAST_ASR, file=SHORT_CLIP.read_bytes()).text
    assert cli("revoke", key_id).returncode == 0
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_refusals_are_not_replayed_so_a_corrected_retry_runs(server: LiveServer) -> None:
    """A 400 or a 402 under an Idempotency-Key is not stored: the corrected request, or the same one after a
    top-up, runs under the same key instead of getting the old refusal back."""
    key_id, key = new_key(server, credits=0.00001)
    headers = idem()
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        bad = {"model": "tts-1", "voice": "no-such-voice", "input": "Hello there.", "response_format": "wav"}
        assert http.post("/v1/audio/speech", json=bad, headers=headers).status_code == 400
        good = {**bad, "voice": "alloy"}
        first = http.post("/v1/audio/speech", json=good, headers=headers)
        assert first.status_code == 402 and "idempotent-replayed" not in first.headers
        with admin(server) as a:
            assert a.post(f"/v1/admin/keys/{key_id}", json={"add_credits": 1.0}).status_code == 200
        second = http.post("/v1/audio/speech", json=good, headers=headers)
        assert second.status_code == 200 and "idempotent-replayed" not in second.headers
        third = http.post("/v1/audio/speech", json=good, headers=headers)
        assert third.status_code == 200 and third.headers["idempotent-replayed"] == "true"
        assert third.content == second.content


def test_a_key_changed_here_takes_effect_at_once(server: LiveServer) -> None:
    """A key is looked up afresh on every request: a new scope or a revocation applies to the very next one."""
    key_id, key = new_key(server)
    client = keyed(server, key)
    assert client.models.list().data
    with admin(server) as http:
        assert http.post(f"/v1/admin/keys/{key_id}", json={"pipeline": "tts-1"}).status_code == 200
    assert {m.id for m in client.models.list().data} == {"piper-joe", "piper", "tts-1"}  # the new scope and aliases
    with admin(server) as http:
        assert http.post(f"/v1/admin/keys/{key_id}/revoke").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
