"""The transcription use case, HTTP-free: an upload on disk and a TranscriptionRequest in, a Transcript out.

Blocking and CPU-bound (run it off the event loop). Shared by the API routes, async jobs and the CLI, so
all three decode, diarize, redact and render alike."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from voxgate import asr
from voxgate.asr import WhisperEngine
from voxgate.audio.decode import AudioDecodeError, PcmFile, declared_seconds, decode_to_file
from voxgate.config import AsrSettings
from voxgate.errors import bad_request
from voxgate.models.catalog import Catalog, ModelSpec
from voxgate.models.registry import ModelRegistry
from voxgate.models.stats import InferenceCounter
from voxgate.transcript import Segment, Transcript
from voxgate.transcription.enrich import SpeakerMap, StreamEnricher, enrich
from voxgate.transcription.fields import Fields
from voxgate.transcription.formats import render
from voxgate.transcription.request import Task, TranscriptionRequest, parse_request


class TranscriptionService:
    def __init__(self, catalog: Catalog, registry: ModelRegistry, settings: AsrSettings, cpu_threads: int,
                 tmp_dir: Path, max_audio_seconds: float | None = None,
                 offload: Callable[[WhisperEngine, Path], None] | None = None) -> None:
        self.catalog = catalog
        self.registry = registry
        self.settings = settings
        self.cpu_threads = cpu_threads
        self.tmp_dir = tmp_dir  # decoded audio lives next to uploads, never in memory whole
        self.max_audio_seconds = max_audio_seconds  # decoding stops past this (a 400 audio_too_long)
        self.inferences = InferenceCounter()  # engine runs per model (GET /v1/admin/stats)
        self.offload = offload  # hands a just-loaded model's batches to remote workers (Ray), if set

    def parse(self, fields: Fields, task: Task) -> TranscriptionRequest:
        """Validate request fields against this server's catalog (raises APIError naming the field)."""
        return parse_request(fields, task, self.catalog)

    def model(self, request: TranscriptionRequest) -> ModelSpec:
        """The catalog entry a validated request names (still available: 404 otherwise)."""
        return self.catalog.require(request.model, "transcription")

    def engine(self, spec: ModelSpec) -> WhisperEngine:
        load = functools.partial(WhisperEngine.load, cpu_threads=self.cpu_threads, workers=self.settings.workers,
                                 batch_size=self.settings.batch_size, short_window_s=self.settings.short_window_s)
        if self.offload is not None:
            offload, plain = self.offload, load

            def load(spec: ModelSpec, path: Path) -> WhisperEngine:  # type: ignore[misc]
                engine = plain(spec, path)
                offload(engine, path)
                return engine

        return self.registry.get(spec, load)

    def declared_seconds(self, path: Path) -> float | None:
        """The duration the upload's header declares (None if none); a header no recording has is a 400."""
        try:
            return declared_seconds(path)
        except AudioDecodeError as exc:
            raise bad_request(str(exc), param="file", code=exc.code) from None

    def load_audio(self, path: Path, max_seconds: float | None = None) -> PcmFile:
        """Decode an upload to 16 kHz mono float32 on disk (`len()` is its sample count); a file that is not
        audio, or decodes to more than the duration limit (or `max_seconds`), is a 400 on `file`."""
        limit = self.max_audio_seconds if max_seconds is None else max_seconds
        try:
            return decode_to_file(path, self.tmp_dir, max_seconds=limit)
        except AudioDecodeError as exc:
            raise bad_request(str(exc), param="file", code=exc.code) from None

    def transcribe(
        self, audio: np.ndarray | PcmFile, request: TranscriptionRequest,
        on_segment: Callable[[Segment], None] | None = None, *,
        on_progress: asr.Progress | None = None, cancel: threading.Event | None = None, label: str = "",
    ) -> Transcript:
        """Short audio in one pass, long audio in VAD windows; `on_segment` sees each final segment at once.

        Diarization and redaction happen here, before anything leaves the service, so an unredacted
        transcript never reaches a response, the idempotency store, a job result or a log."""
        spec = self.model(request)
        self.inferences.add(spec.id)
        samples = asr.ArraySamples(audio) if isinstance(audio, np.ndarray) else audio
        opts = request.enrichment()
        speakers = None
        if opts.diarize:  # turns first (a few % of the audio's duration), so streamed segments get labels
            speakers = SpeakerMap.compute(audio if isinstance(audio, np.ndarray) else audio.read(), opts)
        streamer = StreamEnricher(opts, speakers, request.task) if on_segment and opts.active else None

        def enriched(seg: Segment) -> None:
            assert streamer is not None and on_segment is not None
            for out in streamer.push(seg):
                on_segment(out)

        emit = enriched if streamer is not None else on_segment
        transcript = asr.transcribe(self.engine(spec), samples, request.decode_options(),
                                    request.chunking.vad() if request.chunking else None,
                                    on_segment=emit, on_progress=on_progress, cancel=cancel, label=label,
                                    coverage=self.settings.coverage)
        if streamer is not None and on_segment is not None:
            for out in streamer.flush():
                on_segment(out)
        return enrich(transcript, opts, speakers) if opts.active else transcript

    def draft(self, audio: np.ndarray, request: TranscriptionRequest) -> str:
        """A quick look at audio still being spoken (realtime deltas): greedy, one pass, no fallback, no
        enrichment; the finished turn goes through `transcribe`."""
        spec = self.model(request)
        self.inferences.add(spec.id)
        opts = replace(request.decode_options(), beam_size=1, best_of=1, fallback=False, word_timestamps=False,
                       timings=False)
        return asr.transcribe(self.engine(spec), asr.ArraySamples(audio), opts, coverage=False, background=True).text

    @staticmethod
    def render(transcript: Transcript, request: TranscriptionRequest,
               response_format: str | None = None) -> tuple[str | dict[str, Any], str]:
        """The transcript as the request (or `response_format`) asks: a dict for JSON, a str for text."""
        return render(transcript, response_format or request.response_format, words=request.words,
                      speakers=request.diarize)

