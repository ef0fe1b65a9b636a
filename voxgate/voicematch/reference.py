"""A reference clip, decoded and checked: 3-30 s of audible speech, identified by its bytes' SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.audio.decode import AudioDecodeError, AudioTooLong, decode_audio

FRAME = SAMPLE_RATE // 50  # 20 ms frames for the silence trim
SILENCE_DB = -45.0  # frames this far below the loudest frame are silence at the clip's ends


class SampleError(ValueError):
    """The clip cannot be a voice reference; the message says why, for the client."""


@dataclass(frozen=True)
class Reference:
    audio: np.ndarray  # 16 kHz mono float32, silence trimmed from both ends
    sha256: str
    duration: float  # seconds, before trimming


def _trimmed(audio: np.ndarray) -> np.ndarray:
    frames = audio[: audio.size // FRAME * FRAME].reshape(-1, FRAME)
    if frames.size == 0:
        return audio
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() + SILENCE_DB)
    return audio[loud[0] * FRAME:(loud[-1] + 1) * FRAME] if loud.size else audio[:0]


def load_reference(data: bytes, min_seconds: float, max_seconds: float) -> Reference:
    """Decode a clip (any container PyAV reads) and check its length and level."""
    try:
        audio = decode_audio(data, SAMPLE_RATE, max_seconds=max_seconds + 0.5)
    except AudioTooLong:
        raise SampleError(f"the audio sample is longer than {max_seconds:g} s") from None
    except AudioDecodeError as exc:
        raise SampleError(str(exc)) from None
    duration = audio.size / SAMPLE_RATE
    if duration > max_seconds + 0.5:
        raise SampleError(f"the audio sample is longer than {max_seconds:g} s")
    if duration < min_seconds:
        raise SampleError(f"the audio sample is {duration:.1f} s; a voice needs {min_seconds:g} to {max_seconds:g} s")
    speech = _trimmed(audio)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-3 or speech.size < SAMPLE_RATE:
        raise SampleError("the audio sample is silent: it needs at least 1 s of audible speech")
    return Reference(audio=speech, sha256=hashlib.sha256(data).hexdigest(), duration=duration)
