"""The job runner: worker threads that claim queued jobs and run them, and one housekeeping thread that
renews leases, saves progress, notices cancels and requeues the jobs of dead servers.

Transcription is blocking and CPU-bound, so it runs in plain threads, never on the event loop. A job
stops early only at a progress callback (between segments): that is where cancel and shutdown act."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from voxgate.config import JobSettings
from voxgate.store.interfaces import JobRecord, JobStore
from voxgate.store.jobs import new_owner
from voxgate.transcript import Transcript

log = logging.getLogger("voxgate.jobs")

PURGE_EVERY_S = 600.0  # how often finished jobs past their retention are deleted


@dataclass
class JobControl:
    """What a running job sees: report progress (raises once the job must stop) and `stop`, an event
    set on cancel, shutdown or a lost lease, for engines that can watch one (`cancel=` of the service)."""

    report: Callable[[float], None]
    stop: threading.Event

    def progress(self, fraction: float) -> None:
        self.report(fraction)


class JobCancelled(Exception):
    pass


class JobInterrupted(Exception):
    """This server stops, or lost the job's lease: the job goes (or already went) back to the queue."""


class JobFailure(Exception):
    """The job cannot succeed (bad audio, unknown model, no credits): fail it with this error object."""

    def __init__(self, message: str, *, code: str, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.error = {"message": message, "type": type, "code": code}


class JobHooks(Protocol):
    """What happens around a job, supplied by the service that owns the runner."""

    def execute(self, job: JobRecord, control: JobControl) -> Transcript: ...

    def succeed(self, job: JobRecord, owner: str, transcript: Transcript) -> JobRecord | None:
        """Store the result (and its ledger row and webhook) if `owner` still holds the job."""

    def finish(self, job: JobRecord, owner: str, status: str, error: dict[str, Any] | None) -> JobRecord | None: ...

    def recovered(self, touched: list[tuple[JobRecord, str]]) -> None: ...

    def describe(self, exc: BaseException) -> dict[str, Any] | None:
        """A client-facing error object for a known failure, or None for a bug (logged, generic error)."""

    def purge_expired(self) -> int:
        """Delete finished jobs past their retention period."""


def heartbeat_interval(settings: JobSettings) -> float:
    """How often running jobs renew their lease: several times per lease, at most every 2 s."""
    return max(0.2, min(settings.lease_s / 4, 2.0))


@dataclass
class _Active:
    job: JobRecord
    progress: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)  # cancel, shutdown or lost lease
    lost: bool = False

    def request_cancel(self) -> None:
        self.cancel.set()
        self.stop.set()

    def lose(self) -> None:
        self.lost = True
        self.stop.set()


class JobRunner:
    def __init__(self, store: JobStore, hooks: JobHooks, settings: JobSettings) -> None:
        self.store = store
        self.hooks = hooks
        self.settings = settings
        self.heartbeat_s = heartbeat_interval(settings)
        self.owner = new_owner()
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ----

    def start(self) -> None:
        """Requeue what dead servers left running, then start the threads."""
        if self._threads:
            return
        self._stop.clear()
        self._recover()
        for i in range(self.settings.workers):
            self._spawn(self._work_loop, f"voxgate-jobs-{i}")
        self._spawn(self._housekeeping_loop, "voxgate-jobs-housekeeping")
        log.info("job runner started as %s with %d worker(s)", self.owner, self.settings.workers)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; running jobs stop at their next segment and return to the queue. A job still
        inside the engine after `timeout` is handed back anyway (it can no longer complete: not ours)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            for active in self._active.values():
                active.stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        with self._lock:
            leftovers = list(self._active.values())
        for active in leftovers:
            active.lose()
            if self.store.release(active.job.id, self.owner):
                log.info("job %s handed back to the queue at shutdown", active.job.id)

    def wake(self) -> None:
        """A job was queued: a worker looks now instead of at the next poll."""
        self._wake.set()

    def request_cancel(self, job_id: str) -> bool:
        """Stop a job running in this process at its next segment (True if it runs here)."""
        with self._lock:
            active = self._active.get(job_id)
        if active is None:
            return False
        active.request_cancel()
        return True

    def progress_of(self, job_id: str) -> float | None:
        with self._lock:
            active = self._active.get(job_id)
        return None if active is None else active.progress

    # ---- work ----

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim(self.owner, self.settings.lease_s)
            except Exception:
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(self.settings.poll_s)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: JobRecord) -> None:
        active = _Active(job)
        with self._lock:
            self._active[job.id] = active

        def progress(fraction: float) -> None:
            if active.cancel.is_set():
                raise JobCancelled()
            if self._stop.is_set() or active.lost:
                raise JobInterrupted()
            active.progress = max(active.progress, min(0.99, max(0.0, fraction)))

        log.info("job %s started (attempt %d)", job.id, job.attempts)
        try:
            transcript = self.hooks.execute(job, JobControl(report=progress, stop=active.stop))
            if active.lost:
                raise JobInterrupted()
            if self.hooks.succeed(job, self.owner, transcript) is None:
                log.warning("job %s finished but is no longer ours; result dropped", job.id)
            else:
                log.info("job %s succeeded", job.id)
        except Exception as exc:
            # Whatever the engine raised once told to stop (ours, or its own cancel error) is that stop.
            if isinstance(exc, JobCancelled) or (active.stop.is_set() and active.cancel.is_set()):
                self.hooks.finish(job, self.owner, "cancelled", None)
                log.info("job %s cancelled", job.id)
                return
            if isinstance(exc, JobInterrupted) or active.stop.is_set():
                if not active.lost and self.store.release(job.id, self.owner):
                    log.info("job %s interrupted and requeued", job.id)
                return
            error = self.hooks.describe(exc)
            if error is None:
                log.exception("job %s failed", job.id)
                error = {"message": "the transcription failed", "type": "server_error", "code": "internal_error"}
            else:
                log.info("job %s failed: %s", job.id, error.get("code"))
            self.hooks.finish(job, self.owner, "failed", error)
        finally:
            with self._lock:
                self._active.pop(job.id, None)

    # ---- housekeeping ----

    def _housekeeping_loop(self) -> None:
        ticks_per_recovery = max(1, int(self.settings.lease_s / 2 / self.heartbeat_s))
        ticks_per_purge = max(2, int(PURGE_EVERY_S / self.heartbeat_s))
        tick = 0
        while not self._stop.wait(self.heartbeat_s):
            try:
                self._heartbeat()
                tick += 1
                if tick % ticks_per_recovery == 0:
                    self._recover()
                if tick % ticks_per_purge == 1:  # at start-up, then every PURGE_EVERY_S
                    self.hooks.purge_expired()
            except Exception:  # a busy database must not end housekeeping
                log.exception("job housekeeping failed")

    def _heartbeat(self) -> None:
        with self._lock:
            actives = list(self._active.values())
        for active in actives:
            state = self.store.heartbeat(active.job.id, self.owner, self.settings.lease_s, active.progress)
            if state is False:
                active.lose()
            elif state is None:
                active.request_cancel()

    def _recover(self) -> None:
        touched = self.store.recover(self.owner, self.settings.max_attempts)
        for job, outcome in touched:
            log.info("job %s of a stopped server %s", job.id, outcome)
        if touched:
            self.hooks.recovered(touched)
            self._wake.set()
