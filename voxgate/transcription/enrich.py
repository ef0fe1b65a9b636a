"""What a transcript gets after decoding: speaker labels (diarization) and PII redaction.

Redaction runs last and inside the service, so the unredacted text never leaves this process step:
not into responses, the idempotency store, job results or logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from voxgate.diarize import SpeakerTurn, assign_speakers, diarize, match_known_speakers
from voxgate.redact import redact_transcript
from voxgate.transcript import Segment, Transcript

log = logging.getLogger("voxgate.transcription.enrich")


@dataclass(frozen=True)
class Enrichment:
    """Post-decoding options of one request."""

    diarize: bool = False
    min_speakers: int | None = None
    max_speakers: int | None = None
    known_speakers: dict[str, np.ndarray] = field(default_factory=dict)  # name -> 16 kHz reference clip
    redact: frozenset[str] | None = None

    @property
    def active(self) -> bool:
        return self.diarize or bool(self.redact)


@dataclass
class SpeakerMap:
    """Turns of one recording and the label of every speaker index ("Speaker 1".. or a known name)."""

    turns: list[SpeakerTurn]
    labels: dict[int, str]

    @classmethod
    def compute(cls, audio: np.ndarray, opts: Enrichment) -> SpeakerMap:
        turns = diarize(audio, min_speakers=opts.min_speakers, max_speakers=opts.max_speakers)
        named = match_known_speakers(audio, turns, opts.known_speakers) if opts.known_speakers else {}
        labels: dict[int, str] = {}
        rank = 0
        for index in sorted({t.speaker for t in turns}):  # indices are in order of first appearance
            if index in named:
                labels[index] = named[index]
            else:
                rank += 1
                labels[index] = f"Speaker {rank}"
        log.info("diarization: %d turns, %d speakers (%d named)", len(turns), len(labels), len(named))
        return cls(turns=turns, labels=labels)

    def label(self, transcript: Transcript) -> Transcript:
        if not self.turns:
            return transcript
        return assign_speakers(transcript, self.turns, self.labels)


def enrich(transcript: Transcript, opts: Enrichment, speakers: SpeakerMap | None = None) -> Transcript:
    """Label speakers (when `speakers` were computed) then redact (when asked) a whole transcript."""
    if opts.diarize and speakers is not None:
        transcript = speakers.label(transcript)  # assign_speakers renumbers the split segments
    if opts.redact:
        transcript = redact_transcript(transcript, opts.redact)
    return transcript


class StreamEnricher:
    """Enrich segments as they stream: speaker labels at once, redaction with one segment of look-ahead.

    A phone number can run across two segments, so a segment is released only after the next one has
    arrived and the pair was redacted together (the final `flush` releases the last)."""

    def __init__(self, opts: Enrichment, speakers: SpeakerMap | None, task: str, language: str = "en") -> None:
        self.opts = opts
        self.speakers = speakers
        self.task = task
        self.language = language
        self._held: list[Segment] = []
        self._next_id = 0

    def _label(self, seg: Segment) -> list[Segment]:
        if not (self.opts.diarize and self.speakers):
            return [seg]
        return self.speakers.label(Transcript(self.task, self.language, 0.0, [seg])).segments

    def _release(self, segments: list[Segment]) -> list[Segment]:
        for seg in segments:
            seg.id = self._next_id
            self._next_id += 1
        return segments

    def push(self, seg: Segment) -> Iterator[Segment]:
        pieces = self._label(seg)
        if not self.opts.redact:
            yield from self._release(pieces)
            return
        for piece in pieces:
            self._held.append(piece)
            if len(self._held) >= 2:
                yield from self._release(self._redacted_pair()[:1])
                self._held = self._held[1:]

    def _redacted_pair(self) -> list[Segment]:
        assert self.opts.redact
        pair = redact_transcript(Transcript(self.task, self.language, 0.0, list(self._held)), self.opts.redact)
        self._held = pair.segments
        return pair.segments

    def flush(self) -> Iterator[Segment]:
        if self.opts.redact and self._held:
            yield from self._release(self._redacted_pair())
        self._held = []
