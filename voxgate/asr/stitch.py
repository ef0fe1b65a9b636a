"""Window results back into one transcript: file times, each word once, times that only move forward.

Windows arrive in file order. Most meet at a pause and simply follow each other; a window cut where
nobody paused overlaps the next one, and there the stitcher keeps each side's words up to the middle
of the overlap (both windows saw at least half the overlap of context around that point)."""

from __future__ import annotations

from dataclasses import replace

from voxgate.asr.chunking import Chunk
from voxgate.transcript import Segment, Word


def to_file_time(chunk: Chunk, segments: list[Segment]) -> list[Segment]:
    """Window-relative segments -> file-time copies (exact: each piece maps by its own offset)."""
    out = []
    for seg in segments:
        words = [Word(w.word, round(chunk.to_absolute(w.start, "start"), 3), round(chunk.to_absolute(w.end, "end"), 3),
                      w.probability) for w in seg.words]
        start = round(chunk.to_absolute(seg.start, "start"), 3)
        out.append(replace(seg, start=start, end=round(max(start, chunk.to_absolute(seg.end, "end")), 3), words=words))
    return out


def trim(seg: Segment, keep: list[Word]) -> Segment | None:
    """`seg` cut to the words in `keep` (its own, in order); None when none is kept."""
    if not keep:
        return None
    if len(keep) == len(seg.words):
        return seg
    return replace(seg, words=keep, text="".join(w.word for w in keep), tokens=[], start=keep[0].start,
                   end=keep[-1].end)


def split_at(segments: list[Segment], cut: float, keep_before: bool) -> list[Segment]:
    """Keep the words starting before (or from) `cut`; segments without words go by their midpoint."""
    out = []
    for seg in segments:
        if seg.words:
            keep = [w for w in seg.words if (w.start < cut) == keep_before]
            trimmed = trim(seg, keep)
            if trimmed is not None:
                out.append(trimmed)
        elif ((seg.start + seg.end) / 2 < cut) == keep_before:
            out.append(seg)
    return out


class Stitcher:
    """Feed (chunk, file-time segments) in order; get back segments that are final."""

    def __init__(self, keep_words: bool) -> None:
        self.keep_words = keep_words
        self.held: tuple[Chunk, list[Segment]] | None = None
        self.last_end = 0.0
        self.count = 0
        self.segments: list[Segment] = []

    def add(self, chunk: Chunk, segments: list[Segment]) -> list[Segment]:
        released: list[Segment] = []
        if self.held is not None:
            prev_chunk, prev = self.held
            self.held = None
            if chunk.overlaps_previous:
                cut = (chunk.start + prev_chunk.end) / 2
                prev = split_at(prev, cut, keep_before=True)
                segments = split_at(segments, cut, keep_before=False)
            released += self._release(prev)
        if chunk.overlaps_next:
            self.held = (chunk, segments)
        else:
            released += self._release(segments)
        return released

    def finish(self) -> list[Segment]:
        if self.held is None:
            return []
        _, segments = self.held
        self.held = None
        return self._release(segments)

    def _release(self, segments: list[Segment]) -> list[Segment]:
        out = []
        for seg in segments:
            start = max(seg.start, self.last_end)
            words = []
            t = start
            for w in seg.words if self.keep_words else []:
                ws = max(w.start, t)
                we = max(w.end, ws)
                words.append(Word(w.word, ws, we, w.probability, w.speaker))
                t = we
            end = max(seg.end, start, words[-1].end if words else start)
            seg = replace(seg, id=self.count, seek=int(round(start * 100)), start=round(start, 3), end=round(end, 3),
                          words=words)
            self.count += 1
            self.last_end = seg.end
            out.append(seg)
        self.segments += out
        return out
