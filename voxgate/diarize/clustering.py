"""Speaker clustering for diarization: window embeddings -> speaker labels -> turns.

Agglomerative clustering on cosine distance (the distance threshold decides how many speakers
there are), centroid re-labelling with a Viterbi pass that penalises speaker switches, and turn
building that snaps change points onto nearby pauses. Used by `voxgate.diarize.pipeline`.
"""

from __future__ import annotations

import numpy as np

from voxgate.diarize.embedding import FPS, HOP_LENGTH, l2_normalize
from voxgate.diarize.labels import SpeakerTurn
from voxgate.diarize.options import DiarizationOptions

__all__ = ["build_turns", "cluster", "relabel", "viterbi"]


# --------------------------------------------------------------------------- clustering


def cluster(x: np.ndarray, weight: np.ndarray, opts: DiarizationOptions,
            min_k: int | None, max_k: int | None) -> np.ndarray:
    """Cluster labels (0..k-1) for rows of `x` (weights in seconds of speech); the number of
    clusters comes from the distance threshold unless the hints force it."""
    n = x.shape[0]
    lo = max(1, min_k or 1)
    hi = max(lo, max_k) if max_k else n
    if n == 1 or hi == 1:
        return np.zeros(n, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    z = linkage(x.astype(np.float64), method=opts.linkage, metric="cosine")
    total = float(weight.sum())
    min_mass = _min_mass(total, opts)

    def significant(labels: np.ndarray) -> list[int]:
        mass = np.bincount(labels, weights=weight)
        return [c for c in np.argsort(-mass) if mass[c] >= min_mass]

    labels = fcluster(z, t=opts.threshold, criterion="distance") - 1
    sig = significant(labels)
    k = len(sig)
    if not lo <= k <= hi:
        k = min(max(k, lo), hi, n)
        # Cut deeper until k clusters are big enough; tiny outlier clusters do not count.
        for m in range(k, min(n, k + 20) + 1):
            labels = fcluster(z, t=m, criterion="maxclust") - 1
            sig = significant(labels)
            if len(sig) >= k:
                break
        if len(sig) < k:  # too little audio to honour the hint with big clusters: take the biggest
            mass = np.bincount(labels, weights=weight)
            sig = list(np.argsort(-mass)[:k])
        sig = sig[:k]
    if not sig:
        return np.zeros(n, dtype=np.int64)
    cents = l2_normalize(np.stack([(x[labels == c] * weight[labels == c, None]).sum(0) for c in sig]))
    keep = {c: i for i, c in enumerate(sig)}
    out = np.array([keep.get(c, -1) for c in labels], dtype=np.int64)
    orphans = out < 0
    if orphans.any():
        out[orphans] = np.argmax(x[orphans] @ cents.T, axis=1)
    return out


def viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """Best label path maximising summed scores minus `penalty` per label change."""
    n, k = scores.shape
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    back = np.zeros((n, k), dtype=np.int64)
    acc = scores[0].copy()
    trans = penalty * (1.0 - np.eye(k))
    for t in range(1, n):
        cand = acc[:, None] - trans  # from i to j
        back[t] = np.argmax(cand, axis=0)
        acc = cand[back[t], np.arange(k)] + scores[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(acc))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _min_mass(total: float, opts: DiarizationOptions) -> float:
    """Seconds of speech a cluster needs to count as a speaker rather than an outlier."""
    share = min(opts.min_cluster_fraction * total, opts.min_cluster_cap)
    return max(opts.min_cluster_seconds, share)


def relabel(emb: np.ndarray, region: np.ndarray, win_sec: np.ndarray, labels: np.ndarray,
            k: int, opts: DiarizationOptions, min_k: int) -> np.ndarray:
    """Centroid scoring + per-region Viterbi, repeated so centroids follow the cleaner labels.

    Clusters left with less than the outlier mass are dropped between rounds: they are mostly
    clustering samples that straddled a speaker change and averaged two voices.
    """
    bounds = np.flatnonzero(np.diff(region)) + 1
    min_mass = _min_mass(float(win_sec.sum()), opts)
    for _ in range(max(1, opts.refine_iterations)):
        mass = np.bincount(labels, weights=win_sec, minlength=k)
        present = [c for c in np.argsort(-mass) if mass[c] > 0]
        keep = [c for c in present if mass[c] >= min_mass]
        keep = present[:max(len(keep), min_k, 1)]
        cents = l2_normalize(np.stack([emb[labels == c].mean(0) for c in keep]))
        scores = emb @ cents.T
        new = np.empty_like(labels)
        for idx in np.split(np.arange(region.size), bounds):
            new[idx] = viterbi(scores[idx], opts.switch_penalty)
        labels = new
        k = len(keep)
    return labels


# --------------------------------------------------------------------------- turns


def _energy_db(audio: np.ndarray, f0: int, f1: int) -> np.ndarray:
    """Energy in dB of 10 ms frames f0..f1-1, smoothed over 50 ms (computed locally: no
    whole-file array, so long recordings cost no extra memory)."""
    pad = 2
    lo, hi = max(0, f0 - pad), min(audio.size // HOP_LENGTH, f1 + pad)
    x = audio[lo * HOP_LENGTH:hi * HOP_LENGTH].astype(np.float64).reshape(-1, HOP_LENGTH)
    e = np.convolve((x ** 2).mean(1) + 1e-10, np.ones(5) / 5.0, mode="same")
    return 10.0 * np.log10(e[f0 - lo:f0 - lo + (f1 - f0)])


def build_turns(regions: list[tuple[float, float]], centres: np.ndarray, region: np.ndarray,
                labels: np.ndarray, audio: np.ndarray, opts: DiarizationOptions
                ) -> list[SpeakerTurn]:
    """Window labels -> turns: cut regions where the label changes, join same-speaker neighbours
    across short pauses, and renumber speakers by first appearance."""
    turns: list[SpeakerTurn] = []
    bounds = np.flatnonzero(np.diff(region)) + 1
    for idx in np.split(np.arange(region.size), bounds):
        if idx.size == 0:
            continue
        a, b = regions[int(region[idx[0]])]
        lab, cen = labels[idx], centres[idx]
        start = a
        for j in range(1, idx.size):
            if lab[j] == lab[j - 1]:
                continue
            cut = max(start, _snap((cen[j - 1] + cen[j]) / 2.0, a, b, audio, opts.snap))
            if cut > start:
                turns.append(SpeakerTurn(start, cut, int(lab[j - 1])))
            start = cut
        if b > start:
            turns.append(SpeakerTurn(start, b, int(lab[-1])))
    merged: list[SpeakerTurn] = []
    for t in turns:
        if merged and merged[-1].speaker == t.speaker and t.start - merged[-1].end < opts.merge_gap:
            merged[-1].end = max(merged[-1].end, t.end)
        else:
            merged.append(t)
    order: dict[int, int] = {}
    for t in merged:
        t.speaker = order.setdefault(t.speaker, len(order))
        t.start, t.end = round(t.start, 3), round(t.end, 3)
    return merged


def _snap(t: float, a: float, b: float, audio: np.ndarray, radius: float) -> float:
    """Move a change point onto the quietest nearby frame when that frame is a real pause."""
    if radius <= 0:
        return t
    lo = max(0, int(max(a + 0.05, t - radius) * FPS))
    hi = min(int(min(b - 0.05, t + radius) * FPS), audio.size // HOP_LENGTH - 1)
    if hi - lo < 2:
        return t
    seg = _energy_db(audio, lo, hi + 1)
    j = int(np.argmin(seg))
    if seg[j] < np.median(seg) - 10.0:
        return (lo + j + 0.5) / FPS
    return t
