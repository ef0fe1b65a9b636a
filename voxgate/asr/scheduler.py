"""One model, many requests: windows from every request are decoded together in batches.

Each request gets a lane. Workers (one per CTranslate2 replica) build each batch round-robin across
lanes, one window per lane per turn, so a 5-second request waiting behind a 2-hour one rides in the
very next batch instead of queueing behind hundreds of windows. A lane holds only a few windows at a
time (its producer blocks), which keeps memory flat however long the file is. Beam search gains a lot
from batching, so a worker waits briefly for a fuller batch while a lane is still being filled."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future

from voxgate.asr.window import Decoder, Window, WindowResult

log = logging.getLogger("voxgate.asr.scheduler")


class Lane:
    """One request's queue of windows, in file order."""

    def __init__(self, scheduler: BatchScheduler, limit: int, eager: bool = False, background: bool = False) -> None:
        self.scheduler = scheduler
        self.limit = limit
        self.eager = eager  # someone is watching (streaming): send the first window alone, for a quick first result
        self.background = background  # only when no other lane has a window ready (realtime drafts)
        self.taken = 0
        self.queue: deque[tuple[Window, Future[WindowResult]]] = deque()
        self.closed = False  # the producer has submitted everything
        self.cancelled = False

    def submit(self, window: Window, urgent: bool = False) -> Future[WindowResult]:
        """Queue a window; blocks while the lane is full (backpressure on the producer). An `urgent` window
        (a re-decode the collector waits for) goes to the front and never waits for room."""
        future: Future[WindowResult] = Future()
        with self.scheduler.cond:
            while not urgent and len(self.queue) >= self.limit and not self.cancelled:
                self.scheduler.cond.wait()
            if self.cancelled:
                raise CancelledError("the request was cancelled")
            if urgent:
                self.queue.appendleft((window, future))
            else:
                self.queue.append((window, future))
            if self not in self.scheduler.lanes:  # a closed, drained lane was dropped: bring it back
                self.scheduler.lanes.append(self)
            self.scheduler.cond.notify_all()
        return future

    def close(self) -> None:
        with self.scheduler.cond:
            self.closed = True
            self.scheduler.cond.notify_all()

    def cancel(self) -> None:
        """Drop queued windows (the client went away); a batch already running finishes."""
        with self.scheduler.cond:
            self.cancelled = self.closed = True
            while self.queue:
                future = self.queue.popleft()[1]
                if not future.cancel():  # a fallback retry is already running
                    future.set_exception(CancelledError("the request was cancelled"))
            self.scheduler.cond.notify_all()

    def __enter__(self) -> Lane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel() if exc[0] is not None else self.close()
        self.scheduler.forget(self)

    def settled(self) -> bool:
        """No reason to wait for more: closed, full, or a watched request's first window."""
        return (self.closed or len(self.queue) >= min(self.limit, self.scheduler.batch_size)
                or (self.eager and self.taken == 0))


class BatchScheduler:
    def __init__(self, engine: Decoder, workers: int = 1, batch_size: int = 8, linger_s: float = 1.0) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.cond = threading.Condition()
        self.lanes: list[Lane] = []
        self.turn = 0
        self.batches = 0
        self.windows = 0  # windows decoded, over all batches (windows / batches: the mean batch size)
        self.busy = 0  # workers decoding right now
        self.threads = [threading.Thread(target=self._work, name=f"voxgate-asr-{i}", daemon=True)
                        for i in range(max(1, workers))]
        for t in self.threads:
            t.start()

    def lane(self, limit: int | None = None, eager: bool = False, background: bool = False) -> Lane:
        lane = Lane(self, limit or 2 * self.batch_size, eager, background)
        with self.cond:
            self.lanes.append(lane)
        return lane

    def depth(self) -> int:
        """Windows waiting in every lane."""
        with self.cond:
            return sum(len(lane.queue) for lane in self.lanes)

    def forget(self, lane: Lane) -> None:
        with self.cond:
            if lane in self.lanes and not lane.queue:
                self.lanes.remove(lane)

    def _ready(self, lane: Lane) -> bool:
        if not lane.queue:
            return False
        if lane.eager and lane.taken == 0:
            return True  # no lingering for the first window of a watched request
        slot = lane.queue[0][0].language
        return not (slot.language is None and slot.detecting)

    def _take(self) -> list[tuple[Window, Future[WindowResult], Lane]]:
        """Wait for work, then build one batch: same settings, round-robin across lanes."""
        deadline: float | None = None
        while True:
            self.lanes = [ln for ln in self.lanes if ln.queue or not ln.closed]
            ready = [ln for ln in self.lanes if self._ready(ln)]
            if not ready:
                blocked = any(ln.queue for ln in self.lanes)  # waiting on a language detection
                self.cond.wait(0.05 if blocked else None)
                deadline = None
                continue
            waiting = sum(len(ln.queue) for ln in ready)
            if waiting < self.batch_size and not all(ln.settled() for ln in ready):
                now = time.monotonic()
                deadline = deadline or now + self.linger_s
                if now < deadline:
                    self.cond.wait(deadline - now)
                    continue
            break
        n = len(self.lanes)
        order = [self.lanes[(self.turn + i) % n] for i in range(n)]
        order = [ln for ln in order if self._ready(ln)]
        if any(not ln.background for ln in order):  # drafts wait for every other request's windows
            order = [ln for ln in order if not ln.background]
        fresh = [ln for ln in order if ln.closed and ln.taken == 0]
        if fresh:  # requests not started whose work is all known (short files) go first, among themselves
            order = fresh
        key = order[0].queue[0][0].batch_key
        self.turn = (self.lanes.index(order[0]) + 1) % n
        size = self.batch_size
        if all(ln.closed for ln in order):  # the last windows: share them among the idle workers
            idle = max(1, len(self.threads) - self.busy)
            size = max(1, min(size, -(-sum(len(ln.queue) for ln in order) // idle)))
        batch: list[tuple[Window, Future[WindowResult], Lane]] = []
        lanes_in_batch: list[Lane] = []
        while len(batch) < size:
            progressed = False
            for ln in order:
                if ln.eager and ln.taken == 1 and any(b is ln for b in lanes_in_batch):
                    continue
                if len(batch) < size and ln.queue and ln.queue[0][0].batch_key == key:
                    window, future = ln.queue.popleft()
                    ln.taken += 1
                    lanes_in_batch.append(ln)
                    if future.running() or future.set_running_or_notify_cancel():  # running: a retry
                        batch.append((window, future, ln))
                    progressed = True
            if not progressed:
                break
        for window, _, _ in batch:
            if window.language.language is None:
                window.language.detecting = True
        self.busy += 1 if batch else 0
        self.cond.notify_all()  # producers blocked on a full lane may go on
        return batch

    def _work(self) -> None:
        while True:
            with self.cond:
                batch = self._take()
            if not batch:
                continue
            windows = [w for w, _, _ in batch]
            started = time.perf_counter()
            try:
                results = self.engine.decode(windows)
            except BaseException as exc:  # a failed batch fails its requests, never the worker
                log.exception("decoding a batch of %d windows failed", len(windows))
                for _, future, _ in batch:
                    future.set_exception(exc)
                results = None
            finally:
                with self.cond:
                    self.busy -= 1
                    for w in windows:
                        w.language.detecting = False
                    self.cond.notify_all()
            if results is not None:
                for (_, future, lane), result in zip(batch, results):
                    if result.retry is None:
                        future.set_result(result)
                        continue
                    with self.cond:  # decode again at the next fallback temperature, ahead of the lane's queue
                        if lane.cancelled:
                            future.set_exception(CancelledError("the request was cancelled"))
                        else:
                            lane.queue.appendleft((result.retry, future))
                            if lane not in self.lanes:
                                self.lanes.append(lane)
                            self.cond.notify_all()
            self.batches += 1
            self.windows += len(windows)
            log.debug("batch of %d windows (%.1f s of audio) in %.2f s", len(windows),
                      sum(w.duration for w in windows), time.perf_counter() - started)
