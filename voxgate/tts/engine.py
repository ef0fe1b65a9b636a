"""Piper voices through onnxruntime: text pieces in, float PCM blocks out, one piece at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import SynthesisConfig

from voxgate.models.catalog import ModelSpec
from voxgate.tts.text import split_for_streaming

PIECE_PAUSE_S = 0.12  # silence between streamed pieces, like a sentence pause


@dataclass(frozen=True)
class SpeechOptions:
    voice: str
    speed: float = 1.0


class PiperEngine:
    """A loaded Piper model (possibly multi-speaker); onnxruntime sessions are safe to share across threads."""

    def __init__(self, voice: PiperVoice, spec: ModelSpec) -> None:
        self.voice = voice
        self.spec = spec

    @classmethod
    def load(cls, spec: ModelSpec, path: Path, *, cpu_threads: int) -> PiperEngine:
        voice = PiperVoice.load(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        voice.session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                                     providers=["CPUExecutionProvider"])
        return cls(voice, spec)

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def synthesize(self, text: str, opts: SpeechOptions) -> Iterator[np.ndarray]:
        """Yield float32 blocks, one per text piece, as each is synthesised."""
        base_scale = self.voice.config.length_scale or 1.0
        config = SynthesisConfig(
            speaker_id=self.spec.voices.get(opts.voice, 0) if self.voice.config.num_speakers > 1 else None,
            length_scale=base_scale / opts.speed,
        )
        pause = np.zeros(int(self.sample_rate * PIECE_PAUSE_S), dtype=np.float32)
        first = True
        for piece in split_for_streaming(text):
            for chunk in self.voice.synthesize(piece, syn_config=config):
                audio = chunk.audio_float_array.astype(np.float32, copy=False)
                yield audio if first else np.concatenate([pause, audio])
                first = False
