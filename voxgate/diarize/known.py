"""Naming diarized speakers: match each speaker's voice against enrolled reference clips.

Split from the pipeline because it runs after `diarize` on its turns and is optional; it reuses
the pipeline's per-speaker embeddings and telephone-band check so both see the audio the same way.
"""

from __future__ import annotations

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.diarize.embedding import EMBED_DIM, SpeakerEmbedder, l2_normalize, to_16k
from voxgate.diarize.labels import SpeakerTurn
from voxgate.diarize.pipeline import is_narrowband, speaker_embeddings

__all__ = ["match_known_speakers"]


def match_known_speakers(audio: np.ndarray, turns: list[SpeakerTurn],
                         references: dict[str, np.ndarray], *, threshold: float = 0.6,
                         narrowband_threshold: float = 0.8,
                         sample_rate: int = SAMPLE_RATE, reference_rate: int = SAMPLE_RATE,
                         embedder: SpeakerEmbedder | None = None) -> dict[int, str]:
    """Names for speaker indices whose voice matches a reference clip; each name used once.

    A reference is audio of that person at `reference_rate` (a few seconds, ideally not from this
    recording), or an already computed 256-d embedding (`SpeakerEmbedder.embed`). When the
    recording is telephone-band, reference clips are band-limited the same way before embedding
    and `narrowband_threshold` applies: voices are far less distinct there (bench: 7/35 true
    pairs below 0.8 and 7/261 wrong pairs above it, all Piper joe vs flite kal). Pairs are
    chosen by optimal assignment on cosine similarity and kept only at or above `threshold`;
    on the bench, clean references scored 0.61-0.90 against the same voice in noisy/reverberant
    conversations and at most 0.59 against other voices.
    """
    if not references or not turns:
        return {}
    emb_model = embedder or SpeakerEmbedder()
    audio = to_16k(audio, sample_rate)
    spk = speaker_embeddings(audio, turns, embedder=emb_model)
    narrow = sample_rate <= 8000 or is_narrowband(audio, [(t.start, t.end) for t in turns])
    names = list(references)
    refs: list[np.ndarray] = []
    for name in names:
        r = np.asarray(references[name], dtype=np.float32)
        if r.ndim == 1 and r.size == EMBED_DIM:
            refs.append(l2_normalize(r))
            continue
        r = to_16k(r, reference_rate)
        if narrow:  # match the recording's channel: drop everything above 4 kHz
            r = to_16k(_to_8k(r), 8000)
        refs.append(emb_model.embed(r))
    idx = sorted(spk)
    sim = np.stack([spk[i] for i in idx]) @ np.stack(refs).T
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-sim)
    floor = max(threshold, narrowband_threshold) if narrow else threshold
    return {idx[r]: names[c] for r, c in zip(rows, cols, strict=True) if sim[r, c] >= floor}


def _to_8k(audio: np.ndarray) -> np.ndarray:
    """Halve the rate of 16 kHz audio, dropping everything above 4 kHz like a telephone line."""
    from scipy.signal import resample_poly

    return resample_poly(audio, 1, 2).astype(np.float32)
