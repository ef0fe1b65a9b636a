"""Any uploaded audio -> 16 kHz mono float32, with the container detected from the bytes, not the name."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, Iterator

import av
import numpy as np

TARGET_RATE = 16000


class AudioDecodeError(ValueError):
    """The upload is empty, not audio, or corrupt; the message says which, for the client."""


def _open(source: str | Path | BinaryIO) -> av.container.InputContainer:
    try:
        return av.open(source if not isinstance(source, Path) else str(source), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise AudioDecodeError("the file is not a recognised audio format (expected flac, mp3, mp4, mpeg, "
                               "mpga, m4a, ogg, wav or webm)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioDecodeError(f"the audio file could not be read: {exc}") from None


def iter_pcm(source: str | Path | BinaryIO, rate: int = TARGET_RATE) -> Iterator[np.ndarray]:
    """Yield float32 mono blocks at `rate` as the file decodes, so long files never sit in memory whole."""
    if isinstance(source, (str, Path)) and Path(source).stat().st_size == 0:
        raise AudioDecodeError("the audio file is empty")
    container = _open(source)
    try:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise AudioDecodeError("the file contains no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        produced = False
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    produced = True
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            for out in resampler.resample(None):
                produced = True
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        except (av.error.FFmpegError, ValueError) as exc:
            if not produced:
                raise AudioDecodeError(f"the audio data is corrupt and could not be decoded: {exc}") from None
            # A truncated tail after good audio: keep what decoded, as ffmpeg does.
        if not produced:
            raise AudioDecodeError("the audio file holds no decodable samples")
    finally:
        container.close()


def decode_audio(source: str | Path | BinaryIO | bytes, rate: int = TARGET_RATE) -> np.ndarray:
    """Decode a whole file into one array (for clips that fit comfortably in memory)."""
    if isinstance(source, bytes):
        if not source:
            raise AudioDecodeError("the audio file is empty")
        source = io.BytesIO(source)
    blocks = list(iter_pcm(source, rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def probe_duration(path: Path) -> float | None:
    """Container-reported duration in seconds, when the container knows it (cheap, no decoding)."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if container.duration:
                return float(container.duration) / 1_000_000
    except av.error.FFmpegError:
        return None
    return None
