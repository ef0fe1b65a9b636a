"""The job runner with a fake engine: success, failure, cancel mid-run, and a graceful shutdown that hands
the running job back to the queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voxgate.config import JobSettings
from voxgate.jobs.runner import JobControl, JobFailure, JobRunner
from voxgate.store.db import Database
from voxgate.store.interfaces import JobRecord, JobStore
from voxgate.store.jobs import SqliteJobStore, new_job_id
from voxgate.transcript import Segment, Transcript


class FakeHooks:
    """Runs `behaviour(job, control)` as the engine and records what the runner reports."""

    def __init__(self, store: JobStore, behaviour: Callable[[JobRecord, JobControl], Transcript]) -> None:
        self.store = store
        self.behaviour = behaviour
        self.started = threading.Event()

    def execute(self, job: JobRecord, control: JobControl) -> Transcript:
        self.started.set()
        return self.behaviour(job, control)

    def succeed(self, job: JobRecord, owner: str, transcript: Transcript) -> JobRecord | None:
        return self.store.succeed(job.id, owner, "{}", transcript.duration, 1)

    def finish(self, job: JobRecord, owner: str, status: str, error: dict[str, Any] | None) -> JobRecord | None:
        return self.store.finish(job.id, owner, status, error)

    def recovered(self, touched: list[tuple[JobRecord, str]]) -> None:
        pass

    def describe(self, exc: BaseException) -> dict[str, Any] | None:
        return exc.error if isinstance(exc, JobFailure) else None

    def purge_expired(self) -> int:
        return 0


def transcript() -> Transcript:
    return Transcript(task="transcribe", language="en", duration=2.0, segments=[Segment(0, 0.0, 2.0, " hi")])


def until_stopped(job: JobRecord, control: JobControl) -> Transcript:
    """An engine that reports progress until told to stop, then raises its own error (as longform does)."""
    for step in range(1, 2000):
        if control.stop.is_set():
            raise RuntimeError("engine cancelled")
        control.progress(min(step / 100, 0.5))
        time.sleep(0.01)
    return transcript()


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return SqliteJobStore(Database(tmp_path / "jobs.sqlite3"))


def add_job(store: JobStore) -> str:
    job_id = new_job_id()
    store.create(JobRecord(id=job_id, key_id="key_a", status="queued", task="transcribe", model="m",
                           response_format="json", words=False, request="{}", input_path="/x", input_bytes=1))
    return job_id


def wait_status(store: JobStore, job_id: str, status: str, timeout: float = 10) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job is not None and job.status == status:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} is {store.get(job_id).status}, not {status}")  # type: ignore[union-attr]


def make_runner(store: JobStore,
                behaviour: Callable[[JobRecord, JobControl], Transcript]) -> tuple[JobRunner, FakeHooks]:
    hooks = FakeHooks(store, behaviour)
    runner = JobRunner(store, hooks, JobSettings(workers=1, lease_s=2.0, poll_s=0.05))
    runner.start()
    return runner, hooks


def test_success_and_failure(store: JobStore) -> None:
    def behaviour(job: JobRecord, control: JobControl) -> Transcript:
        if job.id == bad:
            raise JobFailure("no audio", code="invalid_audio")
        control.progress(0.5)
        return transcript()

    good, bad = add_job(store), add_job(store)
    runner, _ = make_runner(store, behaviour)
    try:
        assert wait_status(store, good, "succeeded").progress == 1
        failed = wait_status(store, bad, "failed")
        assert failed.error == {"message": "no audio", "type": "invalid_request_error", "code": "invalid_audio"}
    finally:
        runner.stop()


def test_cancel_stops_a_running_job(store: JobStore) -> None:
    job_id = add_job(store)
    runner, hooks = make_runner(store, until_stopped)
    try:
        assert hooks.started.wait(5)
        time.sleep(0.6)  # a heartbeat saves the progress
        assert store.get(job_id).progress > 0  # type: ignore[union-attr]
        store.cancel(job_id, "key_a")  # as another server process would: seen at the next heartbeat
        wait_status(store, job_id, "cancelled")
    finally:
        runner.stop()


def test_shutdown_hands_the_running_job_back(store: JobStore) -> None:
    job_id = add_job(store)
    runner, hooks = make_runner(store, until_stopped)
    assert hooks.started.wait(5)
    runner.stop()
    job = store.get(job_id)
    assert job is not None and job.status == "queued" and job.owner is None and job.attempts == 0
    successor, _ = make_runner(store, lambda job, control: transcript())
    try:
        assert wait_status(store, job_id, "succeeded").attempts == 1
    finally:
        successor.stop()
