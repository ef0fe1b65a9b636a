"""Conversations for the transcription benchmark: alternating turns of real and synthetic voices.

Meetings and calls are what people send a speech API most, and they are where Whisper without timestamps
loses words: turns are short, gaps are short, and a window's decoding can stop early. Each voice speaks one
long stream (its clips or sentences one after another, with breaths between them); a turn takes the next
2-8 s of that stream, cut at a unit boundary when one is near, else at the quietest point nearby, so most
turns start and end mid-sentence, as interruptions do. Gaps between turns are 0.1-1.0 s.

Voices: the public-domain LibriVox reader and the "cards" speaker of Debian's `pocketsphinx-testdata`
(real recordings), Piper "joe", flite awb/kal/rms/slt and espeak-ng (see bench/diarization_data.py).
A turn made of whole units keeps their transcript as its reference; a turn cut mid-sentence has none, and
bench/bench_conversation.py writes faster-whisper sequential's transcript of the turn alone into it.

Everything is seeded; files are cached under bench/out/conversation/ (needs `flite` and `espeak-ng` from
apt the first time). `python bench/conversation_data.py` builds them and prints what they hold.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.diarization_data import (  # noqa: E402
    SENTENCES,
    SR,
    _pink,
    _place,
    _real_clips,
    read_wav,
    rms_db,
    synth,
    write_wav,
)

OUT = ROOT / "bench" / "out" / "conversation"
_VERSION = "1"  # bump when the recipe changes, to rebuild cached files
REAL = ("librivox", "cards")
BOUNDARY_SNAP_S = 0.8  # a unit boundary this close to the drawn cut is taken instead (whole units keep text)
QUIET_SEARCH_S = 0.5  # else the cut goes to the quietest 30 ms within this of the drawn point
FRAME = 480  # 30 ms


@dataclass(frozen=True)
class ConversationSpec:
    name: str
    voices: tuple[str, ...]
    minutes: float
    seed: int
    gap: tuple[float, float] = (0.1, 1.0)
    turn: tuple[float, float] = (2.0, 8.0)
    snr_db: float | None = None  # pink background noise at this speech-to-noise ratio


CONVERSATIONS = [
    ConversationSpec("conv1_real_and_joe_3min", ("librivox", "joe", "cards"), 3.0, 21),
    ConversationSpec("conv2_three_tts_3min", ("slt", "es_f", "awb"), 3.0, 22),
    ConversationSpec("conv3_four_voices_noisy_3min", ("librivox", "kal", "es_m", "rms"), 3.0, 23, snr_db=20.0),
]


@dataclass
class Turn:
    start: float
    end: float
    voice: str
    text: str | None  # known transcript (whole units), else None until a reference is written
    source: str  # "transcript" or "faster-whisper sequential (turn alone)"


@dataclass
class Conversation:
    spec: ConversationSpec
    path: Path
    turns: list[Turn] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return " ".join(t.text or "" for t in self.turns)

    def save(self) -> None:
        meta = {"tag": _tag(self.spec), "spec": asdict(self.spec), "turns": [asdict(t) for t in self.turns]}
        self.path.with_suffix(".json").write_text(json.dumps(meta, indent=1))


class _Stream:
    """One voice talking on: its units (clips or sentences) end to end with breaths between, and where
    each unit ends, so a turn can be cut at a boundary or at a quiet point."""

    def __init__(self, voice: str, rng: random.Random) -> None:
        self.voice, self.rng = voice, rng
        self.audio = np.zeros(0, np.float32)
        self.units: list[tuple[int, int, str]] = []  # (start, end incl. the breath after it, text)
        self.pos = 0
        self.real = list(_real_clips(voice).values()) if voice in REAL else []
        self.sentences = SENTENCES[:]
        rng.shuffle(self.sentences)
        self.next_unit = 0

    def _grow(self, samples: int) -> None:
        while len(self.audio) < samples:
            if self.real:
                clip, text = self.real[self.next_unit % len(self.real)]
                if self.next_unit % len(self.real) == len(self.real) - 1:
                    self.rng.shuffle(self.real)
            else:
                text = self.sentences[self.next_unit % len(self.sentences)]
                clip = synth(self.voice, text, self.rng.uniform(0.92, 1.1))
            self.next_unit += 1
            breath = np.zeros(int(self.rng.uniform(0.12, 0.35) * SR), np.float32)
            start = len(self.audio)
            self.audio = np.concatenate([self.audio, clip * np.float32(10 ** ((-23.0 - rms_db(clip)) / 20)), breath])
            self.units.append((start, len(self.audio), text))

    def take(self, seconds: float) -> tuple[np.ndarray, str | None]:
        """The next `seconds` (about) of this voice, and their transcript when the turn is whole units."""
        target = self.pos + int(seconds * SR)
        self._grow(target + 3 * SR)
        ends = [e for _, e, _ in self.units if abs(e - target) <= BOUNDARY_SNAP_S * SR and e > self.pos + SR]
        if self.voice == "cards":  # one to three card names: too short to cut
            ends = [e for _, e, _ in self.units if e > self.pos][:self.rng.choice([1, 2, 3])][-1:]
        if ends:
            cut = min(ends, key=lambda e: abs(e - target))
        else:
            a, b = target - int(QUIET_SEARCH_S * SR), target + int(QUIET_SEARCH_S * SR)
            frames = self.audio[a:b][: (b - a) // FRAME * FRAME].reshape(-1, FRAME)
            cut = a + int(np.argmin((frames.astype(np.float64) ** 2).mean(axis=1))) * FRAME + FRAME // 2
        starts = {s for s, _, _ in self.units}
        whole = [t for s, e, t in self.units if s >= self.pos and e <= cut]
        known = self.pos in starts and any(e == cut for _, e, _ in self.units)
        piece = self.audio[self.pos:cut]
        self.pos = cut
        return _strip(piece), (" ".join(whole) if known else None)


def _strip(audio: np.ndarray) -> np.ndarray:
    """Drop the exact zeros of a breath at either end (a gap is drawn separately)."""
    nz = np.flatnonzero(audio != 0)
    return audio[nz[0]:nz[-1] + 1] if nz.size else audio


def _tag(spec: ConversationSpec) -> str:
    return hashlib.sha1((_VERSION + json.dumps(asdict(spec))).encode()).hexdigest()[:10]


def build(spec: ConversationSpec) -> Conversation:
    rng = random.Random(spec.seed)
    streams = [_Stream(v, random.Random(spec.seed * 100 + i)) for i, v in enumerate(spec.voices)]
    gains = [rng.uniform(-3.0, 3.0) for _ in spec.voices]
    pieces: list[tuple[float, np.ndarray]] = []
    turns: list[Turn] = []
    t, prev = rng.uniform(0.3, 0.8), -1
    while t < spec.minutes * 60:
        who = rng.choice([i for i in range(len(streams)) if i != prev])
        audio, text = streams[who].take(rng.uniform(*spec.turn))
        audio = audio * np.float32(10 ** (gains[who] / 20))
        pieces.append((t, audio))
        end = t + len(audio) / SR
        turns.append(Turn(round(t, 3), round(end, 3), spec.voices[who], text,
                          "transcript" if text is not None else "faster-whisper sequential (turn alone)"))
        t, prev = end + rng.uniform(*spec.gap), who
    total = int((t + 0.5) * SR)
    noise = np.random.default_rng(spec.seed).normal(0.0, 10 ** (-62 / 20), total).astype(np.float32)
    if spec.snr_db is not None:
        noise += _pink(total, spec.seed + 1000) * np.float32(10 ** ((-23.0 - spec.snr_db) / 20))
    path = OUT / f"{spec.name}.wav"
    write_wav(path, np.clip(_place(noise, pieces, total), -1.0, 1.0))
    conv = Conversation(spec, path, turns)
    conv.save()
    return conv


def load(spec: ConversationSpec) -> Conversation:
    """Cached `build` (the JSON also keeps references written by the benchmark)."""
    path = OUT / f"{spec.name}.wav"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("tag") == _tag(spec):
            return Conversation(spec, path, [Turn(**t) for t in info["turns"]])
    return build(spec)


def turn_audio(conv: Conversation, turn: Turn) -> np.ndarray:
    audio, _ = read_wav(conv.path)
    return audio[int(turn.start * SR):int(turn.end * SR)]


def conversations() -> list[Conversation]:
    return [load(s) for s in CONVERSATIONS]


def main() -> int:
    for conv in conversations():
        known = sum(t.text is not None for t in conv.turns)
        lengths = [t.end - t.start for t in conv.turns]
        print(f"{conv.spec.name}: {conv.turns[-1].end:.0f} s, {len(conv.turns)} turns of {min(lengths):.1f}-"
              f"{max(lengths):.1f} s, {known} with a transcript, voices {', '.join(conv.spec.voices)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
