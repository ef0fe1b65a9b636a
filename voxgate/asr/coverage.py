"""Speech that no word covers: the check that catches a window whose decoding ended early or skipped a
stretch (Whisper without timestamps does both, most of all on conversations with short gaps).

After a window is decoded and aligned, the VAD's speech inside it is compared with where the alignment put
words; every stretch of at least MIN_GAP_S left bare is decoded again on its own, and only words that
land in the bare stretch are kept from that re-decode."""

from __future__ import annotations

from voxgate.asr.chunking import Chunk, Piece
from voxgate.asr.stitch import trim
from voxgate.audio import SAMPLE_RATE
from voxgate.transcript import Segment

MIN_GAP_S = 0.5  # bare speech shorter than this is a word boundary or a breath, not lost words
WORD_SLACK_S = 0.25  # DTW word edges are loose: a word covers a little around it
PAD_S = 0.25  # audio kept around a bare stretch when it is decoded again
JOIN_S = 0.4  # bare stretches closer than this are decoded together
MAX_SHARE = 0.9  # a window with (almost) no words is silence or noise to the decoder: not re-decoded


def _subtract(span: tuple[float, float], covered: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, (start, end) = [], span
    for a, b in covered:
        if b <= start or a >= end:
            continue
        if a > start:
            out.append((start, a))
        start = max(start, b)
        if start >= end:
            break
    if start < end:
        out.append((start, end))
    return out


def bare_speech(chunk: Chunk, text_at: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Stretches (file seconds) of `chunk`'s VAD speech that no interval in `text_at` (where the window's
    words, or its timestamp spans, lie) covers.

    Empty when nearly all its speech is bare: the decoder heard nothing there, and decoding the same audio
    again would not change that."""
    covered = sorted((a - WORD_SLACK_S, b + WORD_SLACK_S) for a, b in text_at)
    speech = [(p.start / SAMPLE_RATE, p.end / SAMPLE_RATE) for p in chunk.speech]
    bare: list[tuple[float, float]] = []
    for span in speech:
        for a, b in _subtract(span, covered):
            if bare and a - bare[-1][1] < JOIN_S:
                bare[-1] = (bare[-1][0], b)
            else:
                bare.append((a, b))
    bare = [(a, b) for a, b in bare if b - a >= MIN_GAP_S]
    total = sum(b - a for a, b in speech)
    if not bare or total <= 0 or sum(b - a for a, b in bare) >= MAX_SHARE * total:
        return []
    return bare


def redecode_chunk(chunk: Chunk, stretch: tuple[float, float]) -> Chunk:
    """A one-piece window over a bare stretch (padded, kept inside the piece of `chunk` it lies in)."""
    a, b = int((stretch[0] - PAD_S) * SAMPLE_RATE), int((stretch[1] + PAD_S) * SAMPLE_RATE)
    mid = (a + b) // 2
    piece = next((p for p in chunk.pieces if p.start <= mid < p.end), chunk.pieces[-1])
    clipped = Piece(max(a, piece.start), min(b, piece.end))
    return Chunk(-1, [clipped], [clipped])


def words_inside(segments: list[Segment], stretch: tuple[float, float]) -> list[Segment]:
    """The re-decoded segments cut to the words whose middle falls in the bare stretch (the padding may
    hear the neighbouring words again, which the window already has)."""
    a, b = stretch[0] - WORD_SLACK_S, stretch[1] + WORD_SLACK_S
    kept = (trim(seg, [w for w in seg.words if a <= (w.start + w.end) / 2 <= b]) for seg in segments)
    return [seg for seg in kept if seg is not None]
