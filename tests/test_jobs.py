"""Async transcription jobs on a live server: submit (form and JSON), poll, fetch any format, key
scoping, cancel, idempotent submit, metering once on success, and surviving a SIGKILL mid-job."""

from __future__ import annotations

import base64
import io
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.db import query
from tests.helpers import librivox_clips, wer
from voxgate import Client
from voxgate.sdk import errors
from voxgate.sdk.types import Job, Text, Transcription, TranscriptionDiarized, TranscriptionVerbose

CLIPS = librivox_clips()
CLIP, REFERENCE = CLIPS[1]
FAST = {"VOXGATE_JOB_POLL_S": "0.2", "VOXGATE_JOB_LEASE_S": "6"}


def long_wav(repeat: int = 2) -> tuple[bytes, str]:
    """All five clips, `repeat` times over (~30 s each round): a job that runs for a while."""
    frames: list[bytes] = []
    params: Any = None
    for path, _ in CLIPS:
        with wave.open(str(path), "rb") as w:
            params = params or w.getparams()
            frames.append(w.readframes(w.getnframes()))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes(b"".join(frames * repeat))
    return out.getvalue(), " ".join(text for _, text in CLIPS * repeat)


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("voxgate-jobs"), FAST)
    try:
        yield live
    finally:
        stop_server(live)


def new_key(server: LiveServer, **policy: Any) -> str:
    with server.http() as http:
        response = http.post("/v1/admin/keys", json={"name": "jobs-test", **policy})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def client_for(server: LiveServer, key: str | None = None) -> Client:
    return Client(api_key=key or server.key, base_url=server.base_url, max_retries=0)


def ledger_rows(server: LiveServer, key_id: str | None = None, request_id: str | None = None) -> list[dict[str, Any]]:
    sql, args = "SELECT * FROM ledger WHERE 1=1", []
    if key_id:
        sql += " AND key_id = ?"
        args.append(key_id)
    if request_id:
        sql += " AND request_id = ?"
        args.append(request_id)
    return query(server, sql, args)


def key_id_of(server: LiveServer, key: str) -> str:
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {key}"}) as http:
        return str(http.get("/v1/credits").json()["key_id"])


def test_job_lifecycle_and_every_result_format(jobs_server: LiveServer) -> None:
    key = new_key(jobs_server)
    client = client_for(jobs_server, key)
    job = client.jobs.create(file=CLIP, model="whisper-1", response_format="verbose_json",
                             timestamp_granularities=["word"])
    assert isinstance(job, Job) and job.object == "transcription.job" and job.id.startswith("job_")
    assert job.status == "queued" and job.progress == 0 and job.model == "whisper-base" and job.request_id
    assert ledger_rows(jobs_server, key_id_of(jobs_server, key)) == []  # the 202 itself is not charged

    done = client.jobs.wait(job.id, poll_interval=0.2, timeout=120)
    assert done.status == "succeeded" and done.progress == 1 and done.attempts == 1
    assert done.usage is not None and done.usage.seconds == 3 and done.result_url == f"/v1/jobs/{job.id}/result"

    verbose = client.jobs.result(job.id)  # the job's own format, words included
    assert isinstance(verbose, TranscriptionVerbose) and verbose.words and wer(REFERENCE, verbose.text) < 0.2
    plain = client.jobs.result(job.id, response_format="json")
    assert isinstance(plain, Transcription) and plain.text == verbose.text
    assert isinstance(client.jobs.result(job.id, response_format="diarized_json"), TranscriptionDiarized)
    for fmt, marker in (("text", "ill"), ("srt", "-->"), ("vtt", "WEBVTT")):
        rendered = client.jobs.result(job.id, response_format=fmt)
        assert isinstance(rendered, Text) and marker in rendered

    rows = ledger_rows(jobs_server, key_id_of(jobs_server, key))
    assert len(rows) == 1 and rows[0]["units"] == 3 and rows[0]["model"] == "whisper-base"
    assert [j.id for j in client.jobs.list()] == [job.id]
    assert [j.id for j in client.jobs.list(status="succeeded")] == [job.id]
    assert not (jobs_server.data_dir / "jobs" / job.id).exists()  # the upload is gone once the job is done


def test_json_body_submit(jobs_server: LiveServer) -> None:
    with jobs_server.http() as http:
        response = http.post("/v1/audio/transcriptions", json={
            "model": "whisper-1", "async": True, "response_format": "text",
            "file_base64": base64.b64encode(CLIP.read_bytes()).decode()})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}" and job["status"] == "queued"
    client = client_for(jobs_server)
    assert client.jobs.wait(job["id"], poll_interval=0.2, timeout=120).status == "succeeded"
    assert "ill" in client.jobs.result(job["id"])


def test_jobs_are_scoped_to_their_key(jobs_server: LiveServer) -> None:
    owner = client_for(jobs_server, new_key(jobs_server))
    stranger = client_for(jobs_server, new_key(jobs_server))
    job = owner.jobs.create(file=b"not audio at all", model="whisper-1")
    for call in (lambda: stranger.jobs.retrieve(job.id), lambda: stranger.jobs.result(job.id),
                 lambda: stranger.jobs.cancel(job.id)):
        with pytest.raises(errors.NotFoundError) as caught:
            call()
        assert caught.value.code == "job_not_found"
    assert job.id not in [j.id for j in stranger.jobs.list()]
    failed = owner.jobs.wait(job.id, poll_interval=0.2, timeout=60)  # undecodable audio fails the job
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "invalid_audio"
    with pytest.raises(errors.APIStatusError) as caught:
        owner.jobs.result(job.id)
    assert caught.value.status == 409 and caught.value.code == "job_failed"


def test_idempotent_submit_replays_the_same_job(jobs_server: LiveServer) -> None:
    client = client_for(jobs_server, new_key(jobs_server))
    first = client.jobs.create(file=b"junk", model="whisper-1", idempotency_key="job-submit-1")
    again = client.jobs.create(file=b"junk", model="whisper-1", idempotency_key="job-submit-1")
    assert again.id == first.id and again.status == "queued"  # the same 202, replayed
    assert [j.id for j in client.jobs.list()] == [first.id]


def test_jobs_need_credits(jobs_server: LiveServer) -> None:
    broke = client_for(jobs_server, new_key(jobs_server, credits=0))
    with pytest.raises(errors.InsufficientCreditsError) as caught:
        broke.jobs.create(file=CLIP, model="whisper-1")
    assert caught.value.status == 402 and caught.value.code == "insufficient_credits"
    short = client_for(jobs_server, new_key(jobs_server, credits=0.0001))  # 1 s of whisper-base; the clip is 3 s
    job = short.jobs.create(file=CLIP, model="whisper-1")
    failed = short.jobs.wait(job.id, poll_interval=0.2, timeout=60)
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "insufficient_credits"
    assert ledger_rows(jobs_server, key_id_of(jobs_server, short.api_key)) == []


def test_invalid_async_requests(jobs_server: LiveServer) -> None:
    client = client_for(jobs_server)
    with pytest.raises(errors.ValidationError) as caught:
        client.jobs.create(file=CLIP, model="whisper-1", webhook_url="ftp://example.com/hook")
    assert caught.value.code == "invalid_webhook_url"
    with jobs_server.http() as http:
        response = http.post("/v1/audio/transcriptions", data={"model": "whisper-1", "async": "true",
                                                               "stream": "true"}, files={"file": CLIP.read_bytes()})
    assert response.status_code == 400 and response.json()["error"]["param"] == "stream"
    with pytest.raises(errors.NotFoundError):
        client.jobs.create(file=CLIP, model="no-such-model")


def test_cancel_queued_and_running_jobs(jobs_server: LiveServer) -> None:
    client = client_for(jobs_server, new_key(jobs_server))
    audio, _ = long_wav(repeat=1)
    first = client.jobs.create(file=audio, model="whisper-1")
    second = client.jobs.create(file=audio, model="whisper-1")
    deadline = time.monotonic() + 120
    while client.jobs.retrieve(first.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.jobs.cancel(second.id).status == "cancelled"  # queued behind the first: cancelled at once
    assert client.jobs.cancel(first.id).to_dict()["cancel_requested"] is True
    assert client.jobs.wait(first.id, poll_interval=0.2, timeout=120).status == "cancelled"
    assert client.jobs.cancel(first.id).status == "cancelled"  # cancelling again changes nothing
    with pytest.raises(errors.APIStatusError) as caught:
        client.jobs.result(second.id)
    assert caught.value.status == 409 and caught.value.code == "job_cancelled"
    assert ledger_rows(jobs_server, key_id_of(jobs_server, client.api_key)) == []


def test_a_job_survives_a_server_kill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    audio, reference = long_wav(repeat=4)
    server = start_server(data_dir, FAST)
    try:
        client = client_for(server)
        job = client.jobs.create(file=audio, model="whisper-1")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # kill as soon as the job runs: long-form decoding is fast
            current = client.jobs.retrieve(job.id)
            if current.status == "running":
                break
            time.sleep(0.05)
        assert current.status == "running" and current.progress < 1, current
    finally:
        server.process.kill()  # SIGKILL: no shutdown hook runs, the job is left "running"
        server.process.wait()
    assert (data_dir / "jobs" / job.id / "input").exists()

    restarted = start_server(data_dir, FAST)
    try:
        client = client_for(restarted)
        done = client.jobs.wait(job.id, poll_interval=0.5, timeout=300)
        assert done.status == "succeeded" and done.attempts == 2, done
        assert wer(reference, client.jobs.result(job.id).text) < 0.25
        assert len(ledger_rows(restarted, request_id=job.request_id)) == 1  # charged once, by the run that finished
        assert "requeued" in restarted.log()
    finally:
        stop_server(restarted)


def test_a_json_job_renders_sentence_cues_as_srt(jobs_server: LiveServer) -> None:
    """A job keeps what every format needs: submitted as plain json (no timings asked for), its srt still
    has sentence-sized cues, not one cue per 30 s window."""
    audio, _ = long_wav(1)  # five read sentences, ~25 s: one decoding window
    client = client_for(jobs_server)
    job = client.jobs.create(file=audio, model="whisper-1")
    assert client.jobs.wait(job.id, poll_interval=0.2, timeout=180).status == "succeeded"
    srt = str(client.jobs.result(job.id, response_format="srt"))
    cues = [line for line in srt.splitlines() if " --> " in line]

    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(rest.replace(",", "."))

    lengths = [seconds(b) - seconds(a) for a, b in (c.split(" --> ") for c in cues)]
    assert len(cues) >= 3 and max(lengths) <= 12.5, srt
