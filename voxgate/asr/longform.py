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
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from voxgate.asr.chunking import Chunk, ChunkParams, ChunkPlanner, single_chunk
from voxgate.asr.engine import WINDOW_SAMPLES, DecodeOptions, LanguageSlot, WhisperEngine, WindowResult
from voxgate.asr.hallucination import Guard
from voxgate.asr.stitch import Stitcher, to_file_time
from voxgate.asr.types import Segment, Transcript
from voxgate.asr.vad import FRAME, SAMPLE_RATE, SileroStream, SpeechTracker, VadParams

log = logging.getLogger("voxgate.asr.longform")
CHUNKING = ChunkParams()
VAD_BLOCK = 2048 * FRAME  # ~65 s of audio per VAD step
Progress = Callable[[float, float], None]  # (seconds done, seconds in total)


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
                 stop: threading.Event | None = None):  # type: ignore[no-untyped-def]
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
               cancel: threading.Event | None = None, label: str = "") -> Transcript:
    """Transcribe `audio`; windows of ≤30 s decode in one pass unless `vad` asks for chunking."""
    started = time.perf_counter()
    total = len(audio) / SAMPLE_RATE
    if vad is None and len(audio) > WINDOW_SAMPLES:
        vad = VadParams()
    slot = LanguageSlot(opts.language)
    stop = threading.Event()
    handoff: queue.Queue[tuple[Chunk, Future[WindowResult]] | BaseException | None] = queue.Queue()
    lane = engine.scheduler.lane(eager=on_segment is not None)
    tag = f"{label} " if label else ""

    def produce() -> None:
        try:
            chunks = plan_windows(audio, vad, stop=stop) if vad is not None else iter([single_chunk(len(audio))])
            for chunk in chunks:
                if stop.is_set():
                    break
                align = opts.word_timestamps or chunk.overlaps_previous or chunk.overlaps_next
                window = engine.window(chunk.audio(audio.read), opts, slot, align=align, seams=chunk.seams())
                handoff.put((chunk, lane.submit(window)))
            handoff.put(None)
        except BaseException as exc:  # reaches the caller through the hand-off queue
            handoff.put(exc)
        finally:
            lane.close()

    guard = Guard(tag)
    stitcher = Stitcher(keep_words=opts.word_timestamps)
    windows = 0
    speech = 0.0
    next_log = started + 10.0

    def emit(segments: list[Segment]) -> None:
        for seg in segments:
            if on_segment is not None:
                on_segment(seg)

    producer = threading.Thread(target=produce, name="voxgate-plan", daemon=True)
    producer.start()
    try:
        with lane:
            while True:
                item = _next(handoff, cancel)
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                chunk, future = item
                result = _result(future, cancel)
                windows += 1
                speech += chunk.duration
                segments = guard.screen(result, to_file_time(chunk, result.segments))
                for note in result.notes:
                    log.info("%swindow at %.1f s: %s", tag, chunk.start, note)
                emit(stitcher.add(chunk, segments))
                if on_progress is not None:
                    on_progress(chunk.end, total)
                if time.perf_counter() > next_log:
                    next_log = time.perf_counter() + 10.0
                    log.info("%stranscribing: %.0f%% of %.0f s, %.1fx real time", tag,
                             100 * chunk.end / max(total, 1e-9), total,
                             chunk.end / max(time.perf_counter() - started, 1e-9))
            emit(stitcher.finish())
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
    if on_progress is not None:
        on_progress(total, total)
    elapsed = time.perf_counter() - started
    if total > 30 or guard.dropped:
        log.info("%stranscribed %.1f s in %.1f s (%.1fx real time): %d windows, %.1f s decoded, %d dropped",
                 tag, total, elapsed, total / max(elapsed, 1e-9), windows, speech, len(guard.dropped))
    return Transcript(task=opts.task, language=slot.language or opts.language or "en", duration=round(total, 3),
                      segments=stitcher.segments, language_probability=slot.probability)


def _next(handoff: "queue.Queue[object]", cancel: threading.Event | None):  # type: ignore[no-untyped-def]
    while True:
        try:
            return handoff.get(timeout=0.25)
        except queue.Empty:
            if cancel is not None and cancel.is_set():
                raise Cancelled() from None


def _result(future: "Future[WindowResult]", cancel: threading.Event | None) -> WindowResult:
    while True:
        try:
            return future.result(timeout=0.25)
        except TimeoutError:
            if cancel is not None and cancel.is_set():
                raise Cancelled() from None
