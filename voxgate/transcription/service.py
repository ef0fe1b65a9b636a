"""Transcription as a blocking call (run it off the event loop): file -> samples on disk -> windows -> Transcript."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from voxgate.asr import longform
from voxgate.asr.engine import DecodeOptions, WhisperEngine
from voxgate.asr.enrich import Enrichment, SpeakerMap, StreamEnricher, enrich
from voxgate.asr.types import Segment, Transcript
from voxgate.asr.vad import VadParams
from voxgate.audio.decode import PcmFile, decode_to_file
from voxgate.models.stats import InferenceCounter
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
    chunking: VadParams | None = None  # chunking_strategy; None: one pass up to 30 s, VAD windows beyond
    enrich: Enrichment = field(default_factory=Enrichment)  # diarization and redaction


class TranscriptionService:
    def __init__(self, registry: ModelRegistry, tmp_dir: Path | None = None) -> None:
        self.registry = registry
        # Decoded audio goes next to uploads: <data dir>/tmp (the model cache lives in <data dir>/models).
        self.tmp_dir = tmp_dir or registry.cache_dir.parent / "tmp"
        self.inferences = InferenceCounter()  # engine runs per model (GET /v1/admin/stats)

    def engine(self, spec: ModelSpec) -> WhisperEngine:
        return self.registry.get(spec, WhisperEngine.load)

    def load_audio(self, path: Path) -> PcmFile:
        """Decode an upload to 16 kHz mono float32 on disk (`len()` is its sample count); raises
        AudioDecodeError with a client-facing message."""
        return decode_to_file(path, self.tmp_dir)

    def transcribe(
        self, audio: np.ndarray | PcmFile, params: TranscriptionParams,
        on_segment: Callable[[Segment], None] | None = None, *,
        on_progress: longform.Progress | None = None, cancel: threading.Event | None = None, label: str = "",
    ) -> Transcript:
        """Short audio in one pass, long audio in VAD windows; `on_segment` sees each final segment at once.

        Diarization and redaction happen here, before anything leaves the service, so an unredacted
        transcript never reaches a response, the idempotency store, a job result or a log."""
        self.inferences.add(params.model.id)
        samples = longform.ArraySamples(audio) if isinstance(audio, np.ndarray) else audio
        opts = params.enrich
        speakers = None
        if opts.diarize:  # turns first (a few % of the audio's duration), so streamed segments get labels
            speakers = SpeakerMap.compute(audio if isinstance(audio, np.ndarray) else audio.read(), opts)
        streamer = StreamEnricher(opts, speakers, params.decode.task) if on_segment and opts.active else None

        def enriched(seg: Segment) -> None:
            assert streamer is not None and on_segment is not None
            for out in streamer.push(seg):
                on_segment(out)

        emit = enriched if streamer is not None else on_segment
        transcript = longform.transcribe(self.engine(params.model), samples, params.decode, params.chunking,
                                         on_segment=emit, on_progress=on_progress, cancel=cancel, label=label)
        if streamer is not None and on_segment is not None:
            for out in streamer.flush():
                on_segment(out)
        return enrich(None, transcript, opts, speakers) if opts.active else transcript
