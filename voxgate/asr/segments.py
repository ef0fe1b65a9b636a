"""Cut a window's aligned words into subtitle-sized segments (sentence ends, pauses, length caps)."""

from __future__ import annotations

import re

import numpy as np

from voxgate.transcript import Segment, Word

SENTENCE_END = (".", "?", "!", "。", "？", "！")
_ABBREVIATION = re.compile(r"^(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|No|[A-Z])\.$")
MAX_SEGMENT_S = 12.0
MAX_SEGMENT_CHARS = 120
PAUSE_S = 1.0


def split_into_segments(whole: Segment, words: list[tuple[Word, list[int]]],
                        seams: tuple[float, ...] = ()) -> list[Segment]:
    """Cut a window's text into subtitle-sized segments: at sentence ends, at pauses (and `seams`, where
    a pause was cut out of the window), and before a segment grows past MAX_SEGMENT_S or
    MAX_SEGMENT_CHARS (then at its last comma, if it has one)."""
    groups: list[list[tuple[Word, list[int]]]] = [[]]
    for item in words:
        word, current = item[0], groups[-1]
        if current:
            chars = sum(len(w.word) for w, _ in current) + len(word.word)
            before = (current[-1][0].start + current[-1][0].end) / 2
            if word.start - current[-1][0].end >= PAUSE_S or any(
                    before < seam <= (word.start + word.end) / 2 for seam in seams):
                groups.append([])
            elif word.end - current[0][0].start > MAX_SEGMENT_S or chars > MAX_SEGMENT_CHARS:
                comma = max((k for k, (w, _) in enumerate(current[:-1]) if w.word.endswith(",")), default=None)
                if comma is not None and comma >= 2:
                    groups[-1], rest = current[:comma + 1], current[comma + 1:]
                    groups.append(rest)
                else:
                    groups.append([])
        groups[-1].append(item)
        if word.word.strip().endswith(SENTENCE_END) and not _ABBREVIATION.search(word.word.strip()) \
                and len(groups[-1]) >= 3:
            groups.append([])
    out: list[Segment] = []
    for group in (g for g in groups if g):
        ws = [w for w, _ in group]
        _tame_edges(ws)
        out.append(Segment(id=len(out), start=ws[0].start, end=max(ws[-1].end, ws[0].start),
                           text="".join(w.word for w in ws), tokens=[t for _, ts in group for t in ts],
                           temperature=whole.temperature, avg_logprob=whole.avg_logprob,
                           compression_ratio=whole.compression_ratio, no_speech_prob=whole.no_speech_prob, words=ws))
    return out


def _tame_edges(words: list[Word]) -> None:
    """DTW lets a word before or after a pause swallow the pause; cap such words at twice the median."""
    durations = [w.end - w.start for w in words if w.end > w.start]
    if not durations:
        return
    cap = 2 * min(0.7, float(np.median(durations)))
    if words[0].end - words[0].start > cap:
        words[0].start = round(words[0].end - cap, 3)
    if words[-1].end - words[-1].start > cap:
        words[-1].end = round(words[-1].start + cap, 3)
