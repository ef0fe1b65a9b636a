"""GET /metrics (issue 15): Prometheus text that moves when requests run: requests by route, status and model,
latency, units, refusals, idempotent replays and conflicts, loaded models, the ASR scheduler, jobs and realtime
sessions; open on loopback, an admin key otherwise."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveServer, start_server, stop_server
from tests.helpers import librivox_clips
from tests.test_gateway import keyed, new_key


def scrape(server: LiveServer, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{server.root}/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_move_when_requests_run(server: LiveServer, client: openai.OpenAI) -> None:
    before = scrape(server)
    text = "Metrics count what the models do."
    client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="wav").read()
    path, _ = librivox_clips()[1]
    client.audio.transcriptions.create(model="whisper-1", file=path.open("rb"))
    _, poor = new_key(server, credits=0.0)
    try:
        keyed(server, poor).audio.speech.create(model="tts-1", voice="alloy", input="No credits.")
    except openai.APIStatusError as exc:
        assert exc.status_code == 402
    idem = {"Idempotency-Key": f"m-{uuid.uuid4().hex}"}
    with server.http() as http:
        body = {"model": "tts-1", "voice": "alloy", "input": "Once.", "response_format": "wav"}
        assert http.post("/v1/audio/speech", json=body, headers=idem).status_code == 200
        assert http.post("/v1/audio/speech", json=body, headers=idem).headers["idempotent-replayed"] == "true"
        assert http.post("/v1/audio/speech", json={**body, "input": "Twice."}, headers=idem).status_code == 422
        assert http.get("/v1/no-such-route").status_code == 404
    time.sleep(0.2)
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("voxgate_requests_total", route="/v1/audio/speech", status="200", model="piper-joe") >= 2
    assert moved("voxgate_requests_total", route="/v1/audio/transcriptions", status="200", model="whisper-base") == 1
    assert moved("voxgate_request_duration_seconds_count", route="/v1/audio/transcriptions") == 1
    assert moved("voxgate_request_duration_seconds_sum", route="/v1/audio/transcriptions") > 0
    assert moved("voxgate_units_total", model="piper-joe", unit="characters") >= len(text)
    assert moved("voxgate_units_total", model="whisper-base", unit="seconds") >= 2
    assert moved("voxgate_refused_total", status="402") == 1
    assert moved("voxgate_idempotent_replays_total") == 1
    assert moved("voxgate_idempotency_conflicts_total", code="idempotency_key_reused") == 1
    assert moved("voxgate_requests_total", route="unmatched", status="404") == 1  # no raw paths as labels
    assert value(after, "voxgate_model_loaded", model="whisper-base") == 1
    assert value(after, "voxgate_model_load_seconds", model="whisper-base") > 0
    assert moved("voxgate_asr_batches_total", model="whisper-base") >= 1
    assert moved("voxgate_asr_batch_windows_total", model="whisper-base") >= 1
    assert ("voxgate_asr_queue_windows", (("model", "whisper-base"),)) in after


def test_jobs_and_realtime_sessions_are_counted(server: LiveServer, client: openai.OpenAI) -> None:
    path, _ = librivox_clips()[4]
    before = scrape(server)
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", path.read_bytes(), "audio/wav")},
                      data={"model": "whisper-tiny.en", "async": "true"})
        assert r.status_code == 202, r.text
        job: dict[str, Any] = r.json()
        deadline = time.monotonic() + 60
        while http.get(f"/v1/jobs/{job['id']}").json()["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    after = scrape(server)
    assert value(after, "voxgate_jobs", status="succeeded") >= 1
    charged = value(after, "voxgate_units_total", model="whisper-tiny.en", unit="seconds") - \
        value(before, "voxgate_units_total", model="whisper-tiny.en", unit="seconds")
    assert charged >= 2  # the job's audio seconds, counted when it succeeded
    with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        assert next(iter(conn)).type == "session.created"
        assert value(scrape(server), "voxgate_realtime_sessions", kind="transcription") == 1
    time.sleep(0.3)
    assert value(scrape(server), "voxgate_realtime_sessions", kind="transcription") == 0


def test_operator_settings_metrics_access_and_cors(tmp_path: Any, server: LiveServer) -> None:
    """Metrics behind an admin key; browsers from the configured origin get CORS answers (preflight included),
    others and the default server none."""
    origin = "https://app.example"
    live = start_server(tmp_path / "operator", {"VOXGATE_METRICS_ACCESS": "admin", "VOXGATE_CORS_ORIGINS": origin})
    try:
        assert httpx.get(f"{live.root}/metrics").status_code == 401
        _, user = new_key(live)
        assert httpx.get(f"{live.root}/metrics", headers={"Authorization": f"Bearer {user}"}).status_code == 403
        assert scrape(live, Authorization=f"Bearer {live.key}")

        preflight = httpx.options(f"{live.root}/v1/audio/speech", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
        listed = httpx.get(f"{live.root}/v1/models", headers={"Origin": origin, "Authorization": f"Bearer {live.key}"})
        assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == origin
        assert "x-request-id" in listed.headers["access-control-expose-headers"]
        refused = httpx.get(f"{live.root}/v1/models", headers={"Origin": origin})  # no key: a 401 the page can read
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == origin
        stranger = httpx.options(f"{live.root}/v1/audio/speech", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in stranger.headers
    finally:
        stop_server(live)
    default = httpx.get(f"{server.root}/v1/models", headers={"Origin": origin, "Authorization": f"Bearer {server.key}"})
    assert "access-control-allow-origin" not in default.headers


def _stat(rows: list[dict[str, Any]], **match: str) -> int:
    return sum(r["count"] for r in rows if all(r.get(k) == v for k, v in match.items()))


def test_admin_stats_read_the_same_counters_and_totals_survive_a_restart(tmp_path: Any) -> None:
    live = start_server(tmp_path / "stats")
    try:
        client = live.client()
        client.audio.speech.create(model="tts-1", voice="alloy", input="Counted once.", response_format="wav").read()
        idem = {"Idempotency-Key": f"s-{uuid.uuid4().hex}"}
        with live.http() as http:
            body = {"model": "tts-1", "voice": "alloy", "input": "Replayed.", "response_format": "wav"}
            assert http.post("/v1/audio/speech", json=body, headers=idem).status_code == 200
            assert http.post("/v1/audio/speech", json=body, headers=idem).status_code == 200  # the replay
            time.sleep(0.2)
            stats = http.get("/v1/admin/stats").json()
            assert http.get("/v1/admin/stats", headers={"Authorization": "Bearer vg_live_nope"}).status_code == 401
        samples = scrape(live)
        process = stats["process"]
        assert stats["inferences"] == {"piper-joe": 2}  # the replay ran nothing
        assert stats["inferences"]["piper-joe"] == value(samples, "voxgate_inferences_total", model="piper-joe")
        spoken = _stat(process["requests"], route="/v1/audio/speech", status="200")
        assert spoken == 3 == value(samples, "voxgate_requests_total", route="/v1/audio/speech", status="200")
        assert process["idempotent_replays"] == 1
        assert _stat(process["units"], model="piper-joe", unit="characters") == len("Counted once.Replayed.")
        assert [row["mean_ms"] > 0 for row in process["latency"] if row["route"] == "/v1/audio/speech"] == [True]
        assert "piper-joe" in process["models_loaded"] and process["uptime_s"] >= 0
        (usage,) = [row for row in stats["totals"]["usage"] if row["model"] == "piper-joe"]
        assert usage["requests"] == 2 and usage["units"] == len("Counted once.Replayed.")
    finally:
        stop_server(live)
    again = start_server(tmp_path / "stats")  # the same database: totals are kept, this process starts at zero
    try:
        with again.http() as http:
            stats = http.get("/v1/admin/stats").json()
        assert stats["inferences"] == {} and stats["process"]["idempotent_replays"] == 0
        (usage,) = [row for row in stats["totals"]["usage"] if row["model"] == "piper-joe"]
        assert usage["requests"] == 2
    finally:
        stop_server(again)
