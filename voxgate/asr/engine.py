"""Whisper through faster-whisper (CTranslate2): batches of ≤30 s windows in, window-relative segments out.

Everything long-form (VAD, planning, stitching) happens elsewhere; this module owns the model calls.
A batch is encoded once and that encoder output serves language detection, beam search, temperature
fallback and word alignment, so nothing is computed twice."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens, merge_punctuations

from voxgate.asr import language as second_opinion
from voxgate.asr.scheduler import BatchScheduler
from voxgate.asr.segments import split_into_segments
from voxgate.asr.window import (
    COMPRESSION_RATIO_THRESHOLD,
    WINDOW_SAMPLES,
    Decoded,
    DecodeOptions,
    Decoder,
    LanguageSlot,
    Window,
    WindowResult,
)
from voxgate.audio import SAMPLE_RATE
from voxgate.models.catalog import ModelSpec
from voxgate.transcript import Segment, Word

log = logging.getLogger("voxgate.asr.engine")
ENCODE_BATCH = 1  # windows per encoder call (memory), see WhisperEngine._encode
TOKENS_PER_SECOND_CAP = 12  # generous for any language; bounds the cost of a repetition loop
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
DEFAULT_BATCH_SIZE = 4


class WhisperEngine:
    """A loaded Whisper model. `decode` is thread-safe; the scheduler decides who calls it when."""

    def __init__(self, model: WhisperModel, spec: ModelSpec, workers: int = 1, batch_size: int = 4,
                 short_window_s: float = 30.0) -> None:
        self.model = model
        self.spec = spec
        self.short_window_s = min(30.0, short_window_s)
        self.workers = workers
        self.batch_size = batch_size
        self._scheduler: BatchScheduler | None = None
        self._decoder: Decoder = self  # who decodes the batches: this process, or remote workers (offload)
        self._lock = threading.Lock()
        self._tokenizers: dict[tuple[str, str], Tokenizer] = {}
        self._suppress: dict[tuple[str, str], tuple[int, ...]] = {}

    @classmethod
    def load(cls, spec: ModelSpec, path: Path, *, cpu_threads: int, workers: int = 0, batch_size: int = 0,
             short_window_s: float = 30.0) -> WhisperEngine:
        """Load the model; `workers` / `batch_size` of 0 take the catalog entry's option, else the default.

        One CTranslate2 replica per worker (weights are shared on CPU), each with its share of the cores:
        two single-threaded batches in parallel beat one two-threaded batch on small machines."""
        workers = workers or int(spec.options.get("workers") or 0) or (2 if cpu_threads >= 2 else 1)
        batch_size = batch_size or int(spec.options.get("batch_size") or 0) or DEFAULT_BATCH_SIZE
        model = WhisperModel(str(path), device="cpu", compute_type=spec.compute_type,
                             cpu_threads=max(1, cpu_threads // workers), num_workers=workers)
        return cls(model, spec, workers, batch_size, short_window_s)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def offload(self, decoder: Decoder, workers: int) -> None:
        """Decode batches with `decoder` (e.g. Ray actors holding this model), `workers` batches at a time; this
        process keeps the feature extraction, the tokenizers and the long-form stages."""
        with self._lock:
            if self._scheduler is not None:
                raise RuntimeError("offload before the first request")
            self._decoder, self.workers = decoder, workers

    @property
    def scheduler(self) -> BatchScheduler:
        """The one batch scheduler of this model instance (created on first use)."""
        with self._lock:
            if self._scheduler is None:
                self._scheduler = BatchScheduler(self._decoder, workers=self.workers, batch_size=self.batch_size)
            return self._scheduler

    def load_stats(self) -> tuple[int, int, int]:
        """(windows queued, batches decoded, windows decoded) of this model's scheduler, for the metrics."""
        scheduler = self._scheduler
        if scheduler is None:
            return 0, 0, 0
        return scheduler.depth(), scheduler.batches, scheduler.windows

    # ---- preparing windows (called by producers, outside the scheduler) ----

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel of one window, zero-padded to 30 s as Whisper was trained, or to `short_window_s` when the
        audio fits in it: the encoder's cost grows with the square of its input (whisper-base on one thread:
        0.82 s for 30 s, 0.22 s for 15 s), and down to 15 s the transcripts are the same (bench_accuracy)."""
        audio = audio[:WINDOW_SAMPLES]
        size = int(self.short_window_s * SAMPLE_RATE) if len(audio) <= self.short_window_s * SAMPLE_RATE \
            else WINDOW_SAMPLES
        if len(audio) < size:
            audio = np.pad(audio, (0, size - len(audio)))
        frames = size // 160  # 10 ms hops
        return self.model.feature_extractor(audio, padding=0)[:, :frames].astype(np.float32, copy=False)

    def window(self, audio: np.ndarray, opts: DecodeOptions, language: LanguageSlot, align: bool = False,
               seams: tuple[float, ...] = (), sole: bool = False) -> Window:
        prompt = tuple(self._prompt_text_tokens(opts.prompt)) if opts.prompt else ()
        return Window(self.features(audio), len(audio) / SAMPLE_RATE, opts, language,
                      align=align or opts.word_timestamps or opts.timings, prompt_tokens=prompt, seams=seams,
                      sole=sole)

    def _prompt_text_tokens(self, text: str) -> list[int]:
        tokens = self.tokenizer(None, "transcribe").encode(" " + text.strip())
        return tokens[-(self.model.max_length // 2 - 1):]

    def tokenizer(self, language: str | None, task: str) -> Tokenizer:
        if not self.multilingual:
            language, task = "en", "transcribe"
        key = (language or "en", task)
        if key not in self._tokenizers:
            self._tokenizers[key] = Tokenizer(self.model.hf_tokenizer, self.multilingual, task=task, language=key[0])
        return self._tokenizers[key]

    def _suppressed(self, language: str, task: str) -> tuple[int, ...]:
        key = (language, task)
        if key not in self._suppress:
            self._suppress[key] = tuple(get_suppressed_tokens(self.tokenizer(language, task), [-1]))
        return self._suppress[key]

    # ---- decoding a batch (called by the scheduler's workers) ----

    def decode(self, windows: list[Window]) -> list[WindowResult]:
        """Encode the batch once, then detect languages, beam-search and align on that output.

        A window that fails Whisper's checks comes back with `retry`: the scheduler queues it again at
        the next fallback temperature (with its encoder output), so one hard window never holds up the
        rest of its batch, or other requests riding in it."""
        if windows[0].encoded is None:
            encoded = self._encode(windows)
        else:
            encoded = ctranslate2.StorageView.from_array(np.stack([w.encoded for w in windows]))  # type: ignore[misc]
        decoded = self._generate(encoded, windows, [self._prompt(w) for w in windows], windows[0].temperature)
        for i, w in enumerate(windows):
            if w.rivals and w.step == 0:
                decoded[i] = self._second_opinion(_select(encoded, [i], len(windows)), w, decoded[i])
        results: list[WindowResult] = []
        rows: np.ndarray | None = None
        for i, (w, d) in enumerate(zip(windows, decoded)):
            best = d if w.best is None else _better(w.best, d)
            if best.failed() and w.step + 1 < len(w.opts.temperatures()):
                if rows is None:
                    rows = np.asarray(encoded)
                retry = replace(w, features=None, step=w.step + 1, encoded=rows[i].copy(), best=best)
                results.append(WindowResult([], "", 0.0, retry=retry))
            else:
                results.append(self._result(w, best))
        aligned = [i for i, w in enumerate(windows) if w.align and results[i].retry is None and results[i].segments]
        if aligned:
            self._align(encoded, windows, results, aligned)
        return results

    def _encode(self, windows: list[Window]) -> ctranslate2.StorageView:
        """Encode ENCODE_BATCH windows at a time: the encoder gains nothing from big batches on CPU, but
        its attention maps cost ~70 MB per window; beam search still runs on the whole batch. Languages
        are detected as soon as their window is encoded, so other workers waiting on them can start."""
        parts = []
        for i in range(0, len(windows), ENCODE_BATCH):
            part = windows[i:i + ENCODE_BATCH]
            features = np.stack([w.features for w in part])  # type: ignore[misc]
            parts.append(self.model.model.encode(ctranslate2.StorageView.from_array(features)))
            self._detect_languages(part, parts[-1])
        if len(parts) == 1:
            return parts[0]
        return ctranslate2.StorageView.from_array(np.concatenate([np.asarray(p) for p in parts]))

    def _detect_languages(self, windows: list[Window], encoded: ctranslate2.StorageView) -> None:
        unknown = [i for i, w in enumerate(windows) if w.language.language is None]
        if not unknown:
            return
        if not self.multilingual:
            for i in unknown:
                windows[i].language.offer("en", 1.0)
            return
        detected = self.model.model.detect_language(encoded)
        for i in unknown:  # windows arrive in file order, so a request's earliest window decides
            slot = windows[i].language
            ranked = slot.permitted([(token[2:-2], probability) for token, probability in detected[i]])
            slot.offer(*ranked[0])
            if windows[i].sole and slot.language == ranked[0][0]:
                windows[i].rivals = tuple(second_opinion.rivals(ranked))

    def _second_opinion(self, encoded: ctranslate2.StorageView, w: Window, first: Decoded) -> Decoded:
        """Decode an unsure window in its runner-up languages too and keep the best-scoring language
        (asr/language.py says how); the request's language follows the winner."""
        chosen = w.language.language or "en"
        options = {chosen: first}
        candidates = [second_opinion.Candidate(chosen, w.language.probability, first.avg_logprob,
                                               _identifiable(first, w.opts.task))]
        for code, probability in w.rivals:
            decoded = self._generate(encoded, [w], [self._prompt(w, code)], w.temperature, language=code)[0]
            options[code] = decoded
            candidates.append(second_opinion.Candidate(code, probability, decoded.avg_logprob,
                                                       _identifiable(decoded, w.opts.task)))
        winner = second_opinion.best(candidates)
        if winner.language != chosen:
            log.info("language: detector said %s (%.2f), second opinion chose %s (%.2f) among %s", chosen,
                     w.language.probability, winner.language, winner.probability,
                     ", ".join(c.language for c in candidates))
            w.language.switch(winner.language, winner.probability)
        return options[winner.language]

    def _prompt(self, w: Window, language: str | None = None) -> list[int]:
        tokenizer = self.tokenizer(language or w.language.language, w.opts.task)
        prompt = [tokenizer.sot_prev, *w.prompt_tokens] if w.prompt_tokens else []
        return prompt + list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]

    def _generate(self, encoded: ctranslate2.StorageView, windows: list[Window], prompts: list[list[int]],
                  temperature: float, language: str | None = None) -> list[Decoded]:
        first = windows[0]
        language = language or first.language.language
        tokenizer = self.tokenizer(language, first.opts.task)
        longest = max(w.duration for w in windows)
        max_length = min(self.model.max_length, len(prompts[0]) + int(longest * TOKENS_PER_SECOND_CAP) + 32)
        if temperature > 0:
            search = {"beam_size": 1, "num_hypotheses": first.opts.best_of, "sampling_topk": 0,
                      "sampling_temperature": temperature}
        else:
            search = {"beam_size": first.opts.beam_size, "patience": 1.0}
        suppressed = list(self._suppressed(language or "en", first.opts.task))
        results = self.model.model.generate(
            encoded, prompts, max_length=max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=suppressed, **search)
        out = []
        for r in results:
            tokens = list(r.sequences_ids[0])
            avg_logprob = r.scores[0] * len(tokens) / (len(tokens) + 1)
            text = tokenizer.decode([t for t in tokens if t < tokenizer.eot])
            out.append(Decoded(tokens, text, avg_logprob, r.no_speech_prob,
                               get_compression_ratio(text.strip()) if text.strip() else 0.0, temperature))
        return out

    def _result(self, w: Window, d: Decoded) -> WindowResult:
        """The window as one segment; alignment, when asked, cuts it into sentence-sized ones."""
        tokenizer = self.tokenizer(w.language.language, w.opts.task)
        tokens = [t for t in d.tokens if t < tokenizer.eot]
        segments = []
        if d.text.strip():
            segments.append(Segment(id=0, start=0.0, end=round(w.duration, 3), text=d.text, tokens=tokens,
                                    temperature=d.temperature, avg_logprob=d.avg_logprob,
                                    compression_ratio=d.compression_ratio, no_speech_prob=d.no_speech_prob))
        notes = [f"temperature fallback to {d.temperature}"] if d.temperature > 0 else []
        return WindowResult(segments, w.language.language or "en", w.language.probability, d.avg_logprob,
                            d.no_speech_prob, d.compression_ratio, d.temperature, notes)

    def _align(self, encoded: ctranslate2.StorageView, windows: list[Window], results: list[WindowResult],
               chosen: list[int]) -> None:
        """Word timings from cross-attention (DTW), grouped by start sequence as CTranslate2 requires."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i in chosen:
            groups.setdefault((results[i].language, windows[i].opts.task), []).append(i)
        for (language, task), idx in groups.items():
            tokenizer = self.tokenizer(language, task)
            sub = encoded if len(idx) == len(windows) else _select(encoded, idx, len(windows))
            text_tokens = [results[i].segments[0].tokens for i in idx]
            frames = [min(3000, int(round(windows[i].duration * 100))) for i in idx]
            alignments = self.model.find_alignment(tokenizer, text_tokens, sub, frames)
            for i, alignment in zip(idx, alignments):
                merge_punctuations(alignment, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
                words = [(Word(a["word"], round(float(a["start"]), 3), round(float(a["end"]), 3),
                               round(float(a["probability"]), 4)), list(a["tokens"])) for a in alignment if a["word"]]
                results[i].segments = split_into_segments(results[i].segments[0], words, windows[i].seams)


def _identifiable(d: Decoded, task: str) -> str:
    """A decode's text for the text identifier; a translation is English whatever was heard, so none
    (which scores every candidate alike)."""
    return d.text.strip() if task == "transcribe" else ""


def _select(encoded: ctranslate2.StorageView, rows: list[int], total: int) -> ctranslate2.StorageView:
    """Some rows of a batch's encoder output (a copy), to re-decode or align part of a batch."""
    if len(rows) == total:
        return encoded
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[rows]))


def _better(old: Decoded, new: Decoded) -> Decoded:
    """Whisper's rule: prefer results under the compression threshold, then the higher log-probability."""
    if not new.failed():
        return new
    old_ok = old.compression_ratio <= COMPRESSION_RATIO_THRESHOLD
    new_ok = new.compression_ratio <= COMPRESSION_RATIO_THRESHOLD
    if old_ok != new_ok:
        return new if new_ok else old
    return new if new.avg_logprob > old.avg_logprob else old
