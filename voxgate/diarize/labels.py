"""Putting speaker labels onto a transcript: the `SpeakerTurn` type and `assign_speakers`.

Turns come from `voxgate.diarize.pipeline.diarize`; this module only maps words and segments onto
them, splitting a segment where its words change speaker.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from voxgate.transcript import Segment, Transcript

__all__ = ["SpeakerTurn", "assign_speakers"]


@dataclass
class SpeakerTurn:
    """One stretch of speech by one speaker; `speaker` counts from 0 in order of appearance."""

    start: float
    end: float
    speaker: int


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _speaker_at(start: float, end: float, turns: list[SpeakerTurn], starts: np.ndarray,
                longest: float) -> int | None:
    """Speaker of the turn overlapping [start, end] most; the nearest turn if none overlaps."""
    if not turns:
        return None
    i = int(np.searchsorted(starts, end, side="right"))  # turns[:i] start before `end`
    best, best_ov = None, 0.0
    j = i - 1
    while j >= 0 and turns[j].start >= start - longest:
        ov = _overlap(start, end, turns[j].start, turns[j].end)
        if ov > best_ov:
            best, best_ov = turns[j].speaker, ov
        j -= 1
    if best is not None:
        return best
    mid = (start + end) / 2.0
    lo = max(0, i - 1)
    near = turns[lo:i + 1]
    return min(near, key=lambda t: 0.0 if t.start <= mid <= t.end
               else min(abs(mid - t.start), abs(mid - t.end))).speaker


def assign_speakers(transcript: Transcript, turns: list[SpeakerTurn],
                    known: dict[int, str] | None = None) -> Transcript:
    """New transcript with `speaker` set on every word and segment.

    Each word takes the speaker of the turn it overlaps most; a segment whose words change
    speaker is split there, so every segment has one speaker. Unnamed speakers are labelled
    "Speaker 1", "Speaker 2", ... in order of first appearance in the transcript.
    """
    known = known or {}
    turns = sorted(turns, key=lambda t: (t.start, t.end))
    starts = np.array([t.start for t in turns])
    longest = max((t.end - t.start for t in turns), default=0.0)
    pieces: list[tuple[Segment, int | None]] = []
    for seg in transcript.segments:
        if not seg.words:
            spk = _speaker_at(seg.start, seg.end, turns, starts, longest)
            pieces.append((copy.deepcopy(seg), spk))
            continue
        words = [copy.deepcopy(w) for w in seg.words]
        spks = [_speaker_at(w.start, w.end, turns, starts, longest) for w in words]
        runs: list[tuple[int, int]] = []  # [i, j) word ranges of one speaker
        i = 0
        for j in range(1, len(words) + 1):
            if j == len(words) or spks[j] != spks[i]:
                runs.append((i, j))
                i = j
        if len(runs) == 1:
            new = replace(copy.deepcopy(seg), words=words)
            pieces.append((new, spks[0]))
            continue
        for r, (i, j) in enumerate(runs):
            part = words[i:j]
            new = replace(copy.deepcopy(seg), words=part, tokens=[],
                          start=seg.start if r == 0 else part[0].start,
                          end=seg.end if r == len(runs) - 1 else part[-1].end,
                          text="".join(w.word for w in part))
            pieces.append((new, spks[i]))
    labels: dict[int, str] = {}
    for _, spk in pieces:
        if spk is not None and spk not in labels and spk not in known:
            labels[spk] = f"Speaker {len(labels) + 1}"
    labels.update({k: v for k, v in known.items()})
    segments: list[Segment] = []
    for n, (seg, spk) in enumerate(pieces):
        seg.id = n
        seg.speaker = labels.get(spk) if spk is not None else None
        for w in seg.words:
            w.speaker = seg.speaker
        segments.append(seg)
    return Transcript(task=transcript.task, language=transcript.language,
                      duration=transcript.duration, segments=segments,
                      language_probability=transcript.language_probability)
