"""Piper voices through onnxruntime: text pieces in, float PCM blocks out, one piece at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import SynthesisConfig

from voxgate.models.catalog import ModelSpec
from voxgate.tts.text import split_for_streaming
from voxgate.tts.vits import VitsHalves

PIECE_PAUSE_S = 0.12  # silence between streamed pieces, like a sentence pause
# One Piper call synthesises at most this many phonemes (about 15 s of speech). Text without spaces or
# punctuation (a run of emoji, each read out by name) otherwise becomes one call of a minute or more, and
# the model's memory grows with the call's length and stays at its peak.
MAX_PHONEMES = 256
# The first sentence is cut at its first clause break within this many characters: the text half of the model
# runs over the whole piece before its first decoder window (about 0.7 ms per character here). Not shorter: a
# Piper piece cut mid-clause swallows the onset of the next one (at 30 characters, "recognizing | speech have"
# came back as "they each have"), and a speed-up that loses words is a regression.
FIRST_PIECE_CHARS = 100
# Streamed windows cannot be scaled to the sentence's peak (Piper's normalisation) before the sentence is done,
# so each voice gets one gain, measured at load on this sentence without noise: its peak goes to
# CALIBRATED_PEAK, which leaves room for louder sentences (joe's raw peaks over seven varied sentences are
# 0.41-0.60; this one's is 0.60).
CALIBRATION_TEXT = "Well, I always thought the old house by the lake was far too big for us."
CALIBRATED_PEAK = 0.9


@dataclass(frozen=True)
class SpeechOptions:
    voice: str  # a native voice id, or a blend expression on engines that mix voices (Kokoro)
    speed: float = 1.0
    language: str | None = None  # the engine's own language code; None: the voice's language


class SpeechEngine(Protocol):
    """What the speech use case needs of an engine: its output rate, and PCM blocks as pieces are ready."""

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str, opts: SpeechOptions) -> Iterator[np.ndarray]: ...


class PiperEngine:
    """A loaded Piper model (possibly multi-speaker); onnxruntime sessions are safe to share across threads."""

    def __init__(self, voice: PiperVoice, spec: ModelSpec, halves: VitsHalves | None = None) -> None:
        self.voice = voice
        self.spec = spec
        self.halves = halves
        self.gain = 1.0
        if halves is not None:
            quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
            raw = np.concatenate([np.concatenate(list(halves.stream(self._feeds(phonemes, quiet))))
                                  for phonemes in voice.phonemize(CALIBRATION_TEXT)])
            self.gain = CALIBRATED_PEAK / max(float(np.max(np.abs(raw))), 1e-3)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path, *, cpu_threads: int) -> PiperEngine:
        voice = PiperVoice.load(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        # No memory arena: it keeps the peak of every concurrent call for good (4 streams took RSS from 0.8 to
        # 1.9 GB in a soak); plain allocations go back to the allocator when a call ends.
        options.enable_cpu_mem_arena = False
        halves = VitsHalves.split(str(path), options, hop=int(voice.config.hop_length))
        # The whole graph's session is only for an export the cut does not fit; otherwise it would hold a
        # second copy of the weights.
        voice.session = None if halves is not None else onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return cls(voice, spec, halves)

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def synthesize(self, text: str, opts: SpeechOptions) -> Iterator[np.ndarray]:
        """Yield float32 blocks as they are synthesised: decoder windows of each text piece, a pause between
        pieces."""
        base_scale = self.voice.config.length_scale or 1.0
        config = SynthesisConfig(
            speaker_id=self.spec.voices.get(opts.voice, 0) if self.voice.config.num_speakers > 1 else None,
            length_scale=base_scale / opts.speed,
        )
        pause = np.zeros(int(self.sample_rate * PIECE_PAUSE_S), dtype=np.float32)
        first = True
        for piece in split_for_streaming(text, first_max_chars=FIRST_PIECE_CHARS):
            for sentence in self.voice.phonemize(piece):
                for phonemes in phoneme_runs(sentence, MAX_PHONEMES):
                    if not first:
                        yield pause
                    yield from self._audio(phonemes, config)
                    first = False

    def _audio(self, phonemes: list[str], config: SynthesisConfig) -> Iterator[np.ndarray]:
        """One bounded Piper call: decoder windows at the voice's gain, or (an export the cut does not fit)
        the whole call scaled to full range like `PiperVoice.synthesize` does."""
        if self.halves is not None:
            for block in self.halves.stream(self._feeds(phonemes, config)):
                yield np.clip(block * self.gain, -1.0, 1.0).astype(np.float32)
            return
        audio = self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), config)
        assert isinstance(audio, np.ndarray)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        audio = audio / peak if peak >= 1e-8 else np.zeros_like(audio)
        yield np.clip(audio, -1.0, 1.0).astype(np.float32)

    def _feeds(self, phonemes: list[str], config: SynthesisConfig) -> dict[str, np.ndarray]:
        """The model's inputs for one call, with the voice's defaults where `config` leaves them unset."""
        voice = self.voice.config
        ids = np.array([self.voice.phonemes_to_ids(phonemes)], dtype=np.int64)
        feeds: dict[str, np.ndarray] = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": np.array([
                voice.noise_scale if config.noise_scale is None else config.noise_scale,
                voice.length_scale if config.length_scale is None else config.length_scale,
                voice.noise_w_scale if config.noise_w_scale is None else config.noise_w_scale,
            ], dtype=np.float32),
        }
        if voice.num_speakers > 1:
            speaker = voice.default_speaker_id if config.speaker_id is None else config.speaker_id
            feeds["sid"] = np.array([speaker], dtype=np.int64)
        return feeds


def phoneme_runs(phonemes: list[str], limit: int) -> Iterator[list[str]]:
    """A sentence's phonemes in runs of at most `limit`, cut after the last word break (a space phoneme)
    in the run when there is one in its second half, else at the limit."""
    start = 0
    while len(phonemes) - start > limit:
        window = phonemes[start:start + limit]
        cut = next((i + 1 for i in range(len(window) - 1, limit // 2, -1) if window[i] == " "), limit)
        yield phonemes[start:start + cut]
        start += cut
    if start < len(phonemes):
        yield phonemes[start:]
