"""Plan the ≤30 s windows Whisper decodes: speech only, packed close to 30 s, cut where people pause.

Whisper's encoder costs the same for 3 s as for 30 s of audio, so the planner fills each window: it
strings speech regions together (pauses up to `keep_gap_s` stay as they are, longer silences shrink to
their padding), and when the next region does not fit it cuts inside it at a pause the VAD saw. Only a
stretch with no pause at all near the limit is cut blind, and then the next window starts `overlap_s`
earlier so the stitcher can keep each word once. Every window remembers where its pieces came from, so
times map back to the file exactly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voxgate.asr.vad import FRAME, Region, VadParams
from voxgate.audio import SAMPLE_RATE


@dataclass(frozen=True)
class ChunkParams:
    max_s: float = 30.0
    keep_gap_s: float = 1.0  # pauses up to this stay whole inside a window
    overlap_s: float = 4.0  # re-decoded audio when a cut has no pause near it (at most 5 s)
    search_s: float = 6.0  # how far back from the limit a blind cut looks for the quietest frame
    min_pause_frames: int = 3  # a dip of ~100 ms below the VAD's silence level is a safe cut


@dataclass(frozen=True)
class Piece:
    """Audio [start, end) of the file, in samples."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class Chunk:
    """One decoding window: pieces of the file played back to back."""

    index: int
    pieces: list[Piece] = field(default_factory=list)
    speech: list[Piece] = field(default_factory=list)  # what the VAD called speech inside, unpadded
    overlaps_previous: bool = False  # starts inside the previous window's audio
    overlaps_next: bool = False  # the next window starts inside this one

    @property
    def length(self) -> int:
        return sum(p.length for p in self.pieces)

    @property
    def duration(self) -> float:
        return self.length / SAMPLE_RATE

    @property
    def start(self) -> float:
        return self.pieces[0].start / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.pieces[-1].end / SAMPLE_RATE

    def seams(self) -> tuple[float, ...]:
        """Window times where a long pause was cut out: a segment never runs across one."""
        out, offset = [], 0
        for piece in self.pieces[:-1]:
            offset += piece.length
            out.append(offset / SAMPLE_RATE)
        return tuple(out)

    def to_absolute(self, t: float, edge: str = "start") -> float:
        """Seconds in the window -> seconds in the file; a time in a shrunk pause snaps to speech."""
        pos = max(0.0, t) * SAMPLE_RATE
        offset = 0
        for i, piece in enumerate(self.pieces):
            if pos < offset + piece.length or i == len(self.pieces) - 1:
                if edge == "end" and pos <= offset and i > 0:
                    return self.pieces[i - 1].end / SAMPLE_RATE
                return min(piece.start + pos - offset, piece.end) / SAMPLE_RATE
            offset += piece.length
        return self.end

    def audio(self, read: Callable[[int, int], np.ndarray]) -> np.ndarray:
        parts = [read(p.start, p.end) for p in self.pieces]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class ChunkPlanner:
    """Speech regions in (in order, as the VAD closes them), finished windows out."""

    def __init__(self, total_samples: int, vad: VadParams, params: ChunkParams | None = None,
                 probs: Callable[[int, int], np.ndarray] | None = None) -> None:
        self.total = total_samples
        self.vad = vad
        self.params = params or ChunkParams()
        self.probs = probs or (lambda a, b: np.zeros(max(0, b - a), dtype=np.float32))
        self.max_len = int(self.params.max_s * SAMPLE_RATE)
        self.keep_gap = int(self.params.keep_gap_s * SAMPLE_RATE)
        self.pre = int(vad.prefix_padding_ms * SAMPLE_RATE / 1000)
        self.post = int(vad.suffix_padding_ms * SAMPLE_RATE / 1000)
        self.current = Chunk(0)
        self.done_until = 0  # no audio before this sample is planned again (except an overlap)
        self.count = 0
        self._speech = Piece(0, 0)  # the region being placed, unpadded

    def add(self, region: Region) -> list[Chunk]:
        self._speech = Piece(region.start * FRAME, min(region.end * FRAME, self.total))
        start = max(region.start * FRAME - self.pre, self.done_until, 0)
        end = min(region.end * FRAME + self.post, self.total)
        out: list[Chunk] = []
        if end > start:
            self._place(start, end, out)
        return out

    def finish(self) -> list[Chunk]:
        out: list[Chunk] = []
        if self.current.pieces:
            self._emit(out)
        return out

    def _place(self, start: int, end: int, out: list[Chunk]) -> None:
        while start < end:
            pieces = self.current.pieces
            joins = bool(pieces) and start - pieces[-1].end <= self.keep_gap
            from_ = pieces[-1].end if joins else start
            room = self.max_len - self.current.length
            if end - from_ <= room:
                self._append(from_, end, joins)
                self.done_until = end
                return
            cut = self._pause_before(max(from_, start), from_ + room)
            if cut is not None and cut - from_ >= SAMPLE_RATE:
                self._append(from_, cut, joins)
                self._emit(out)
                start = self.done_until = cut
                continue
            if pieces:
                self._emit(out)  # the region fits better in a fresh window
                continue
            cut = self._quietest(start + self.max_len - int(self.params.search_s * SAMPLE_RATE), start + self.max_len)
            self._append(start, cut, False)
            self._emit(out)
            out[-1].overlaps_next = True
            self.done_until = cut
            start = max(start + SAMPLE_RATE, cut - int(self.params.overlap_s * SAMPLE_RATE))
            self.current.overlaps_previous = True

    def _append(self, start: int, end: int, joins: bool) -> None:
        speech = Piece(max(start, self._speech.start), min(end, self._speech.end))
        if speech.length > 0:
            self.current.speech.append(speech)
        if joins:
            last = self.current.pieces[-1]
            self.current.pieces[-1] = Piece(last.start, end)
        else:
            self.current.pieces.append(Piece(start, end))

    def _emit(self, out: list[Chunk]) -> None:
        out.append(self.current)
        self.count += 1
        self.current = Chunk(self.count)

    def _pause_before(self, lo: int, hi: int) -> int | None:
        """Middle of the latest run of quiet frames inside [lo, hi], as a sample index."""
        a, b = lo // FRAME + 1, hi // FRAME
        if b - a < self.params.min_pause_frames:
            return None
        quiet = self.probs(a, b) < self.vad.neg_threshold
        run_end = None
        for i in range(len(quiet) - 1, -1, -1):
            if quiet[i] and run_end is None:
                run_end = i
            elif not quiet[i] and run_end is not None:
                if run_end - i >= self.params.min_pause_frames:
                    return (a + (i + 1 + run_end + 1) // 2) * FRAME
                run_end = None
        if run_end is not None and run_end + 1 >= self.params.min_pause_frames:
            return (a + (run_end + 1) // 2) * FRAME
        return None

    def _quietest(self, lo: int, hi: int) -> int:
        a, b = max(lo, 0) // FRAME, hi // FRAME
        probs = self.probs(a, b)
        if not len(probs):
            return hi
        return (a + len(probs) - 1 - int(np.argmin(probs[::-1]))) * FRAME  # the latest quietest frame


def single_chunk(total_samples: int) -> Chunk:
    """The whole (short) file as one window: no VAD, one pass."""
    return Chunk(0, [Piece(0, total_samples)])
