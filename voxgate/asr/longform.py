"""Audio of any length -> Transcript: VAD, windows, batched decoding, hallucination guards, stitching.

A producer thread walks the file once (VAD block by block, windows planned as soon as their pauses
are known, features computed, windows queued on the model's scheduler); the calling thread collects
results in file order, screens and stitches them, and hands each final segment to `on_segment` at
once, which is what streaming responses send. Memory holds a few windows, never the file."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voxgate.asr import coverage
from voxgate.asr.chunking import Chunk, ChunkParams, ChunkPlanner, single_chunk
from voxgate.asr.engine import WhisperEngine
from voxgate.asr.hallucination import Guard
from voxgate.asr.scheduler import Lane
from voxgate.asr.stitch import Stitcher, to_file_time
from voxgate.asr.vad import FRAME, SileroStream, SpeechTracker, VadParams
from voxgate.asr.window import WINDOW_SAMPLES, DecodeOptions, LanguageSlot, WindowResult
from voxgate.audio import SAMPLE_RATE
from voxgate.transcript import Segment, Transcript

log = logging.getLogger("voxgate.asr.longform")
CHUNKING = ChunkParams()
VAD_BLOCK = 2048 * FRAME  # ~65 s of audio per VAD step
Progress = Callable[[float, float], None]  # (seconds done, seconds in total)
Handed = tuple[Chunk, Future[WindowResult]] | BaseException | None  # a window, the producer's error, or the end
Handoff = queue.Queue[Handed]  # producer -> collector


class Samples(Protocol):
    """16 kHz mono float32 audio readable by window (PcmFile, or ArraySamples for arrays)."""

    def __len__(self) -> int: ...

    def read(self, start: int, end: int) -> np.ndarray: ...


@dataclass
class ArraySamples:
    array: np.ndarray

    def __len__(self) -> int:
        return len(self.array)

    def read(self, start: int, end: int) -> np.ndarray:
        return np.asarray(self.array[max(0, start):max(0, end)], dtype=np.float32)


class Cancelled(Exception):
    """The caller stopped waiting (a streaming client went away)."""


class _Probabilities:
    """Every VAD frame probability so far (4 bytes per 32 ms: 0.9 MB for two hours)."""

    def __init__(self) -> None:
        self.data = np.zeros(4096, dtype=np.float32)
        self.size = 0

    def append(self, probs: np.ndarray) -> None:
        if self.size + len(probs) > len(self.data):
            self.data = np.resize(self.data, max(2 * len(self.data), self.size + len(probs)))
        self.data[self.size:self.size + len(probs)] = probs
        self.size += len(probs)

    def get(self, a: int, b: int) -> np.ndarray:
        return self.data[max(0, a):min(b, self.size)]


def plan_windows(audio: Samples, vad: VadParams, params: ChunkParams | None = None,
                 stop: threading.Event | None = None) -> Iterator[Chunk]:
    """Yield windows as the VAD finds them, reading the audio block by block."""
    silero, tracker, probs = SileroStream(), SpeechTracker(vad), _Probabilities()
    planner = ChunkPlanner(len(audio), vad, params or CHUNKING, probs.get)
    for start in range(0, len(audio), VAD_BLOCK):
        if stop is not None and stop.is_set():
            return
        p = silero(audio.read(start, start + VAD_BLOCK))
        probs.append(p)
        for region in tracker.feed(p):
            yield from planner.add(region)
    for region in tracker.finish():
        yield from planner.add(region)
    yield from planner.finish()


def transcribe(engine: WhisperEngine, audio: Samples, opts: DecodeOptions, vad: VadParams | None = None, *,
               on_segment: Callable[[Segment], None] | None = None, on_progress: Progress | None = None,
               cancel: threading.Event | None = None, label: str = "", coverage: bool = True,
               background: bool = False) -> Transcript:
    """Transcribe `audio`; windows of ≤30 s decode in one pass unless `vad` asks for chunking. With
    `coverage`, chunked windows are aligned and speech their words left bare is decoded again. A `background`
    request (a realtime draft) is decoded only when no other request has a window waiting."""
    if vad is None and len(audio) > WINDOW_SAMPLES:
        vad = VadParams()
    slot = LanguageSlot(opts.language, opts.languages)
    stop = threading.Event()
    handoff: Handoff = queue.Queue()
    lane = engine.scheduler.lane(eager=on_segment is not None, background=background)

    def redecode(chunk: Chunk) -> WindowResult:
        """Decode one bare stretch at once, ahead of the lane's queue (the collector waits for it)."""
        window = engine.window(chunk.audio(audio.read), opts, slot, align=True)
        return _result(lane.submit(window, urgent=True), cancel)

    run = _Run(len(audio) / SAMPLE_RATE, opts, on_segment, on_progress, f"{label} " if label else "",
               redecode if vad is not None and coverage else None)
    producer = threading.Thread(target=_produce, args=(engine, audio, opts, vad, slot, lane, handoff, stop,
                                                       coverage),
                                name="voxgate-plan", daemon=True)
    producer.start()
    try:
        with lane:
            while (item := _next(handoff, cancel)) is not None:
                if isinstance(item, BaseException):
                    raise item
                chunk, future = item
                run.add(chunk, _result(future, cancel))
            run.finish()
    finally:
        stop.set()
    return Transcript(task=opts.task, language=slot.language or opts.language or "en",
                      duration=round(run.total, 3), segments=run.stitcher.segments,
                      language_probability=slot.probability)


def _produce(engine: WhisperEngine, audio: Samples, opts: DecodeOptions, vad: VadParams | None, slot: LanguageSlot,
             lane: Lane, handoff: Handoff, stop: threading.Event, coverage: bool = True) -> None:
    """The producer thread: plan windows, compute their features and queue them on the lane, in file order."""
    try:
        chunks = plan_windows(audio, vad, stop=stop) if vad is not None else iter([single_chunk(len(audio))])
        for chunk in chunks:
            if stop.is_set():
                break
            # The coverage check compares speech with word times; an overlap needs them to be stitched.
            align = (coverage and vad is not None) or opts.word_timestamps or chunk.overlaps_previous \
                or chunk.overlaps_next
            window = engine.window(chunk.audio(audio.read), opts, slot, align=align, seams=chunk.seams(),
                                   sole=vad is None)
            handoff.put((chunk, lane.submit(window)))
        handoff.put(None)
    except BaseException as exc:  # reaches the caller through the hand-off queue
        handoff.put(exc)
    finally:
        lane.close()


class _Run:
    """The collecting side of one transcription: screen and stitch each window's result in file order,
    hand final segments on at once, report progress, and log how it went."""

    def __init__(self, total: float, opts: DecodeOptions, on_segment: Callable[[Segment], None] | None,
                 on_progress: Progress | None, tag: str,
                 redecode: Callable[[Chunk], WindowResult] | None = None) -> None:
        self.total = total
        self.redecode = redecode
        self.on_segment = on_segment
        self.on_progress = on_progress
        self.tag = tag
        self.guard = Guard(tag)
        self.stitcher = Stitcher(keep_words=opts.word_timestamps)
        self.started = time.perf_counter()
        self.next_log = self.started + 10.0
        self.windows = 0
        self.speech = 0.0
        self.redecoded = 0

    def _emit(self, segments: list[Segment]) -> None:
        if self.on_segment is not None:
            for seg in segments:
                self.on_segment(seg)

    def add(self, chunk: Chunk, result: WindowResult) -> None:
        self.windows += 1
        self.speech += chunk.duration
        segments = self.guard.screen(result, to_file_time(chunk, result.segments))
        for note in result.notes:
            log.info("%swindow at %.1f s: %s", self.tag, chunk.start, note)
        if self.redecode is not None and segments:
            segments = self._cover(chunk, segments)
        self._emit(self.stitcher.add(chunk, segments))
        if self.on_progress is not None:
            self.on_progress(chunk.end, self.total)
        now = time.perf_counter()
        if now > self.next_log:
            self.next_log = now + 10.0
            log.info("%stranscribing: %.0f%% of %.0f s, %.1fx real time", self.tag,
                     100 * chunk.end / max(self.total, 1e-9), self.total, chunk.end / max(now - self.started, 1e-9))

    def _cover(self, chunk: Chunk, segments: list[Segment]) -> list[Segment]:
        """Decode again every stretch of speech the window's words left bare, and keep what it heard there."""
        assert self.redecode is not None
        if not all(s.words for s in segments):  # not aligned (a guard rewrote it): cannot be judged
            return segments
        for stretch in coverage.bare_speech(chunk, [(w.start, w.end) for s in segments for w in s.words]):
            sub = coverage.redecode_chunk(chunk, stretch)
            result = self.redecode(sub)
            found = coverage.words_inside(self.guard.screen(result, to_file_time(sub, result.segments)), stretch)
            self.redecoded += 1
            log.info("%sre-decoded %.2f-%.2f s (%.1f s of speech without words): %d words recovered", self.tag,
                     stretch[0], stretch[1], stretch[1] - stretch[0], sum(len(s.words) for s in found))
            segments = sorted(segments + found, key=lambda s: s.start)
        return segments

    def finish(self) -> None:
        self._emit(self.stitcher.finish())
        if self.on_progress is not None:
            self.on_progress(self.total, self.total)
        elapsed = time.perf_counter() - self.started
        if self.total > 30 or self.guard.dropped:
            log.info("%stranscribed %.1f s in %.1f s (%.1fx real time): %d windows, %.1f s decoded, %d dropped, "
                     "%d re-decoded", self.tag, self.total, elapsed, self.total / max(elapsed, 1e-9), self.windows,
                     self.speech, len(self.guard.dropped), self.redecoded)


def _next(handoff: Handoff, cancel: threading.Event | None) -> Handed:
    while True:
        try:
            return handoff.get(timeout=0.25)
        except queue.Empty:
            if cancel is not None and cancel.is_set():
                raise Cancelled() from None


def _result(future: Future[WindowResult], cancel: threading.Event | None) -> WindowResult:
    while True:
        try:
            return future.result(timeout=0.25)
        except TimeoutError:
            if cancel is not None and cancel.is_set():
                raise Cancelled() from None
