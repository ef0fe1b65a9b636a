"""Match a reference speaker to a blend of a speech model's bundled voices.

1. Every candidate voice (the model's English voices) says one calibration sentence once; its speaker
   embedding is kept on disk beside the model (computed on first use, about 1.5 s per voice on 2 cores).
2. The reference is embedded the same way; the bundled voices are ranked by cosine similarity.
3. Blends of the nearest voices (pairs at 70/30, 50/50, 30/70, and a similarity-weighted mix of the nearest
   four) are synthesised and embedded; the best of them and the best single voice is the match.

The search is bounded (`candidates` syntheses per match) and one match runs at a time per process, with at
most `max_waiting` more waiting: beyond that, MatchBusy."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxgate.diarize.embedding import SpeakerEmbedder, l2_normalize
from voxgate.models.catalog import ModelSpec
from voxgate.tts.engine import SpeechEngine, SpeechOptions
from voxgate.tts.voices import parse_blend

CALIBRATION = "Please call Stella and ask her to bring these things with her."
PAIR_WEIGHTS = (0.7, 0.5, 0.3)
NEAREST = 3  # voices paired in the blend search
MIXED = 4  # voices in the similarity-weighted mix
MIX_SHARPNESS = 20.0  # softmax temperature of that mix over cosine similarities


class MatchBusy(Exception):
    """Too many voice matches are already waiting in this process."""


@dataclass(frozen=True)
class Match:
    """The matched voice and how it compares with the obvious choices (cosine similarity to the reference)."""

    voice: str  # a blend expression (or one native voice)
    similarity: float
    default_voice: str
    default_similarity: float
    best_single: str
    best_single_similarity: float
    tried: dict[str, float] = field(default_factory=dict)


def matchable_voices(spec: ModelSpec, allowed: tuple[str, ...] = ()) -> list[str]:
    """The voices a match mixes: those of `allowed` the model has, else its English voices (Kokoro ids starting
    a/b), else all of them."""
    chosen = [v for v in allowed if v in spec.voices]
    english = [v for v in spec.voices if v[:1] in ("a", "b")]
    return chosen or english or list(spec.voices)


class VoiceMatcher:
    def __init__(self, engine_of: Callable[[ModelSpec], SpeechEngine], embedder: SpeakerEmbedder, cache_dir: Path,
                 candidates: int = 10, max_waiting: int = 4, voices: tuple[str, ...] = ()) -> None:
        self.engine_of = engine_of
        self.voices = voices
        self.embedder = embedder
        self.cache_dir = cache_dir
        self.candidates = candidates
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiting = 0
        self._count_lock = threading.Lock()
        self._tables: dict[str, tuple[list[str], np.ndarray]] = {}

    def embed_voice(self, spec: ModelSpec, voice: str, text: str = CALIBRATION) -> np.ndarray:
        """The speaker embedding of `voice` (native or blend) saying `text`."""
        engine = self.engine_of(spec)
        blocks = list(engine.synthesize(text, SpeechOptions(voice=voice)))
        audio = np.concatenate(blocks) if blocks else np.zeros(engine.sample_rate, dtype=np.float32)
        return self.embedder.embed(audio, engine.sample_rate)

    def bundled(self, spec: ModelSpec) -> tuple[list[str], np.ndarray]:
        """(voice ids, their embeddings as rows), from the disk cache or computed once."""
        if spec.id in self._tables:
            return self._tables[spec.id]
        voices = matchable_voices(spec, self.voices)
        tag = hashlib.sha256("|".join([spec.id, str(spec.options.get("voices_sha256")), CALIBRATION,
                                       Path(self.embedder.model_path).name, *voices]).encode()).hexdigest()[:16]
        path = self.cache_dir / spec.id / f"voice-embeddings-{tag}.npy"
        if path.exists():
            table = np.load(path)
        else:
            table = np.stack([self.embed_voice(spec, v) for v in voices])
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
            np.save(tmp, table)
            tmp.replace(path)
        self._tables[spec.id] = (voices, table)
        return voices, table

    def match(self, spec: ModelSpec, reference: np.ndarray, sample_rate: int) -> Match:
        """The bundled voice or blend most similar to the reference speaker (blocking: run it in a thread)."""
        with self._count_lock:
            if self._waiting >= self.max_waiting + 1:
                raise MatchBusy()
            self._waiting += 1
        try:
            with self._lock:
                return self._match(spec, l2_normalize(self.embedder.embed(reference, sample_rate)))
        finally:
            with self._count_lock:
                self._waiting -= 1

    def _match(self, spec: ModelSpec, target: np.ndarray) -> Match:
        voices, table = self.bundled(spec)
        sims = table @ target
        order = [int(i) for i in np.argsort(-sims)]
        tried = {voices[i]: float(sims[i]) for i in order}
        default = spec.default_voice or voices[0]
        default_sim = tried.get(default)
        if default_sim is None:
            default_sim = float(self.embed_voice(spec, default) @ target)
        for expression in self._candidates(voices, sims, order)[: self.candidates]:
            tried[expression] = float(self.embed_voice(spec, expression) @ target)
        best = max(tried, key=tried.__getitem__)
        single = voices[order[0]]
        return Match(voice=best, similarity=tried[best], default_voice=default, default_similarity=default_sim,
                     best_single=single, best_single_similarity=float(sims[order[0]]), tried=tried)

    @staticmethod
    def _candidates(voices: list[str], sims: np.ndarray, order: list[int]) -> list[str]:
        """Blends to try, most promising first: the weighted mix, then pairs of the nearest voices."""
        out: list[str] = []
        near = order[:MIXED]
        weights = np.exp(MIX_SHARPNESS * (sims[near] - sims[near].max()))
        out.append("+".join(f"{voices[i]}({w / weights.sum():.3f})" for i, w in zip(near, weights, strict=True)))
        for a, b in itertools.combinations(order[:NEAREST], 2):
            for w in PAIR_WEIGHTS:
                out.append(f"{voices[a]}({w})+{voices[b]}({1 - w:.1f})")
        return [parse_blend(e).expression() for e in dict.fromkeys(out)]
