"""Transcription as a blocking call (run it off the event loop): file -> samples -> engine -> Transcript."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from voxgate.asr.engine import DecodeOptions, WhisperEngine
from voxgate.asr.types import Segment, Transcript
from voxgate.audio.decode import decode_audio
from voxgate.models.catalog import ModelSpec
from voxgate.models.registry import ModelRegistry


@dataclass(frozen=True)
class TranscriptionParams:
    """Everything a transcription or translation request asks for, already validated."""

    model: ModelSpec
    decode: DecodeOptions
    response_format: str = "json"
    words: bool = False
    stream: bool = False
    extras: dict[str, object] = field(default_factory=dict)


class TranscriptionService:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def engine(self, spec: ModelSpec) -> WhisperEngine:
        return self.registry.get(spec, WhisperEngine.load)

    def load_audio(self, path: Path) -> np.ndarray:
        """Decode an upload to 16 kHz mono; raises AudioDecodeError with a client-facing message."""
        return decode_audio(path)

    def transcribe(
        self, audio: np.ndarray, params: TranscriptionParams, on_segment: Callable[[Segment], None] | None = None
    ) -> Transcript:
        return self.engine(params.model).transcribe(audio, params.decode, on_segment=on_segment)
