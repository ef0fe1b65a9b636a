"""Guards against what Whisper invents: text in silence, and repetition loops.

VAD keeps most silence and music away from the model; these rules catch what still gets through, and
every drop is logged so an operator can see what was removed and why."""

from __future__ import annotations

import logging
import re

from faster_whisper.transcribe import get_compression_ratio

from voxgate.asr.window import COMPRESSION_RATIO_THRESHOLD, LOGPROB_THRESHOLD, NO_SPEECH_THRESHOLD, WindowResult
from voxgate.transcript import Segment

log = logging.getLogger("voxgate.asr.hallucination")

MAX_NGRAM = 12  # longest phrase a loop may repeat
MIN_LOOP_COPIES = 4  # "no no no" is speech; a phrase four times over is a loop...
MIN_LOOP_WORDS = 8  # ...once it spans at least this many words
MAX_SAME_SEGMENTS = 2  # identical consecutive short segments beyond this are a loop
SHORT_SEGMENT_WORDS = 8  # ("Thank you." x 5); long passages may really be said twice
# What Whisper says over silence, learnt from subtitled video; dropped only when the model doubts itself.
STOCK_PHRASES = {
    "thank you", "thanks for watching", "thank you for watching", "thank you so much for watching",
    "please subscribe", "subscribe to my channel", "bye", "you", "so", "okay",
}
_WORD = re.compile(r"[\w']+")


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _loop_span(keys: list[str]) -> tuple[int, int, int] | None:
    """First (start, period, copies) where a phrase repeats MIN_LOOP_COPIES+ times back to back."""
    n = len(keys)
    for start in range(n):
        for period in range(1, min(MAX_NGRAM, (n - start) // MIN_LOOP_COPIES) + 1):
            copies = 1
            while (start + (copies + 1) * period <= n
                   and keys[start + copies * period:start + (copies + 1) * period] == keys[start:start + period]):
                copies += 1
            if copies >= MIN_LOOP_COPIES and copies * period >= MIN_LOOP_WORDS:
                return start, period, copies
    return None


def cut_loops(seg: Segment) -> int:
    """Keep one copy of each repeated phrase; returns how many words were removed."""
    removed = 0
    if seg.words:
        while (span := _loop_span([_norm(w.word) for w in seg.words])) is not None:
            start, period, copies = span
            seg.words = seg.words[:start + period] + seg.words[start + copies * period:]
            removed += (copies - 1) * period
        if removed:
            seg.text = "".join(w.word for w in seg.words)
            seg.end = max(seg.start, seg.words[-1].end) if seg.words else seg.start
    else:
        words = seg.text.split()
        while (span := _loop_span([_norm(w) for w in words])) is not None:
            start, period, copies = span
            words = words[:start + period] + words[start + copies * period:]
            removed += (copies - 1) * period
        if removed:
            seg.text = " " + " ".join(words)
    if removed:
        seg.tokens = []
        text = seg.text.strip()
        seg.compression_ratio = get_compression_ratio(text) if text else 0.0
    return removed


class Guard:
    """Screens each window's segments in file order; remembers the last text to catch cross-window loops."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.dropped: list[tuple[float, float, str, str]] = []  # (start, end, reason, text)
        self._last = ""
        self._same = 0

    def _drop(self, seg: Segment, reason: str) -> None:
        self.dropped.append((seg.start, seg.end, reason, seg.text.strip()))
        log.info("%sdropped %.2f-%.2f s (%s): %r", self.label, seg.start, seg.end, reason, seg.text.strip()[:120])

    def screen(self, result: WindowResult, segments: list[Segment]) -> list[Segment]:
        """`segments` are the window's segments already in file time."""
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and result.avg_logprob < LOGPROB_THRESHOLD:
            for seg in segments:
                self._drop(seg, f"no speech p={result.no_speech_prob:.2f}, logprob {result.avg_logprob:.2f}")
            return []
        doubtful = result.no_speech_prob > 0.3 or result.avg_logprob < -0.7
        kept: list[Segment] = []
        for seg in segments:
            removed = cut_loops(seg)
            if removed:
                log.info("%scut a repetition loop of %d words at %.2f s", self.label, removed, seg.start)
                self.dropped.append((seg.start, seg.end, f"loop of {removed} words", ""))
            key = _norm(seg.text)
            if not key:
                continue
            if seg.compression_ratio > COMPRESSION_RATIO_THRESHOLD and len(seg.text) > 40:
                self._drop(seg, f"repetitive, compression ratio {seg.compression_ratio:.2f}")
                continue
            if doubtful and key in STOCK_PHRASES and len(segments) == 1:
                self._drop(seg, "stock phrase over near-silence")
                continue
            self._same = self._same + 1 if key == self._last else 1
            self._last = key
            if self._same > MAX_SAME_SEGMENTS and len(key.split()) <= SHORT_SEGMENT_WORDS:
                self._drop(seg, "same text again")
                continue
            kept.append(seg)
        return kept
