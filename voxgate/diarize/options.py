"""`DiarizationOptions`: every tunable of the diarization pipeline in one frozen dataclass.

Kept in its own module, with no imports from the rest of the package, so the pipeline and the
clustering stage can both depend on it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DiarizationOptions"]


@dataclass(frozen=True)
class DiarizationOptions:
    """Tunables; defaults were chosen with bench/bench_diarization.py (1-4 speaker talks)."""

    step: float = 0.2  # hop between encoder windows (each window spans ~0.81 s)
    segment: float = 1.6  # span averaged into one clustering sample (less noise than 0.8 s)
    segment_hop: float = 0.8
    threshold: float = 0.45  # linkage cosine distance at which clusters stop merging
    # scipy linkage method: WPGMA ("weighted") gave the widest threshold range that found every
    # bench speaker count (0.42-0.50; "average" only 0.38-0.40).
    linkage: str = "weighted"
    # Telephone-band audio (nothing above 4 kHz) makes every voice look more alike to the
    # encoder, which was trained on 16 kHz speech, so it gets a tighter threshold (bench at
    # 8 kHz: 0.365-0.37 best; two of 15 talks still lose a speaker).
    narrowband_threshold: float = 0.37
    # Clusters with less speech than max(min_cluster_seconds, min(fraction * speech, cap)) are
    # outliers (laughs, noise, odd windows) and are folded into the nearest real speaker.
    min_cluster_seconds: float = 5.0
    min_cluster_fraction: float = 0.04
    min_cluster_cap: float = 20.0
    switch_penalty: float = 0.4  # Viterbi cost of changing speaker between adjacent windows
    refine_iterations: int = 2
    max_cluster_samples: int = 2000  # caps the O(n^2) linkage; the rest is labelled by centroid
    merge_gap: float = 0.5  # same-speaker turns closer than this become one turn
    snap: float = 0.4  # move a speaker change up to this far onto a pause
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 150
    vad_pad_ms: int = 80
