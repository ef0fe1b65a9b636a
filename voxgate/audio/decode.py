"""Any uploaded audio -> 16 kHz mono float32, with the container detected from the bytes, not the name.

Long uploads decode straight to a raw float32 file on disk (`decode_to_file`), so an hour of audio never
sits in memory: readers pull the windows they need."""

from __future__ import annotations

import io
import os
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from voxgate.audio import SAMPLE_RATE


class AudioDecodeError(ValueError):
    """The upload is empty, not audio, or corrupt; the message says which, for the client."""

    code = "invalid_audio"


class AudioTooLong(AudioDecodeError):
    """The audio decodes to more than the caller's limit (found while decoding, before more is written)."""

    code = "audio_too_long"


RATE_RANGE = (8_000, 192_000)  # sample rates a real recording has; others are refused from the header
MAX_CHANNELS = 8


def _reason(exc: Exception) -> str:
    """What went wrong, without the file name FFmpeg and the OS put in their messages (a server path)."""
    reason = getattr(exc, "strerror", None)
    return str(reason) if reason else type(exc).__name__


def _open(source: str | Path | BinaryIO) -> av.container.InputContainer:
    try:
        return av.open(source if not isinstance(source, Path) else str(source), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise AudioDecodeError("the file is not a recognised audio format (expected flac, mp3, mp4, mpeg, "
                               "mpga, m4a, ogg, wav or webm)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioDecodeError(f"the audio file could not be read: {_reason(exc)}") from None


def _check_header(stream: av.audio.stream.AudioStream) -> None:
    """Refuse what no recording declares before decoding starts: a WAV claiming 1 Hz decodes a few KB into
    hours, and one claiming 2^30 Hz keeps the resampler busy for seconds."""
    declared = int(stream.rate or stream.codec_context.sample_rate or 0)
    if declared and not RATE_RANGE[0] <= declared <= RATE_RANGE[1]:
        raise AudioDecodeError(f"the audio declares a sample rate of {declared} Hz; supported rates are "
                               f"{RATE_RANGE[0]}-{RATE_RANGE[1]} Hz")
    channels = int(stream.codec_context.channels or 0)
    if channels > MAX_CHANNELS:
        raise AudioDecodeError(f"the audio declares {channels} channels; at most {MAX_CHANNELS} are supported")


def _resampled(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
               resampler: av.AudioResampler) -> Iterator[av.AudioFrame]:
    """Every resampled frame of `stream`, then the resampler's flush."""
    for frame in container.decode(stream):
        yield from resampler.resample(frame)
    yield from resampler.resample(None)


def declared_seconds(source: str | Path) -> float | None:
    """The duration the container's header declares (None when it declares none), after the header checks:
    what a credit hold is sized by before decoding starts."""
    if Path(source).stat().st_size == 0:
        raise AudioDecodeError("the audio file is empty")
    container = _open(source)
    try:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            raise AudioDecodeError("the file contains no audio stream")
        _check_header(stream)
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1e6 if container.duration is not None else None
    finally:
        container.close()


def iter_pcm(source: str | Path | BinaryIO, rate: int = SAMPLE_RATE,
             max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """Yield float32 mono blocks at `rate` as the file decodes, so long files never sit in memory whole.
    Past `max_seconds` of decoded audio it raises AudioTooLong at once, so a bomb is never decoded whole."""
    if isinstance(source, (str, Path)) and Path(source).stat().st_size == 0:
        raise AudioDecodeError("the audio file is empty")
    container = _open(source)
    limit = None if max_seconds is None else int(max_seconds * rate)
    try:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            raise AudioDecodeError("the file contains no audio stream")
        _check_header(stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        produced = 0
        try:
            for out in _resampled(container, stream, resampler):
                block = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                produced += len(block)
                if limit is not None and produced > limit:
                    raise AudioTooLong(f"the audio is longer than the limit of {max_seconds:g} s")
                yield block
        except AudioDecodeError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            if not produced:
                raise AudioDecodeError(f"the audio data is corrupt and could not be decoded: {_reason(exc)}") from None
            # A truncated tail after good audio: keep what decoded, as ffmpeg does.
        if not produced:
            raise AudioDecodeError("the audio file holds no decodable samples")
    finally:
        container.close()


def decode_audio(source: str | Path | BinaryIO | bytes, rate: int = SAMPLE_RATE,
                 max_seconds: float | None = None) -> np.ndarray:
    """Decode a whole file into one array (for clips that fit comfortably in memory)."""
    if isinstance(source, bytes):
        if not source:
            raise AudioDecodeError("the audio file is empty")
        source = io.BytesIO(source)
    blocks = list(iter_pcm(source, rate, max_seconds))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


class PcmFile:
    """Decoded 16 kHz mono float32 samples in an unlinked temporary file, read by window.

    The file is unlinked as soon as it is written and lives as long as this object holds its descriptor,
    so nothing leaks if a request dies. Windows are read with pread rather than one long-lived memory map:
    mapped pages count towards the process's RSS, and a 2-hour file would then look like 460 MB of RSS."""

    def __init__(self, fd: int, samples: int, rate: int = SAMPLE_RATE) -> None:
        self.fd = fd
        self.samples = samples
        self.rate = rate
        self._closer = weakref.finalize(self, os.close, fd)

    def __len__(self) -> int:
        return self.samples

    @property
    def duration(self) -> float:
        return self.samples / self.rate

    def read(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Samples [start, end) as a fresh float32 array (clipped to the file)."""
        start = max(0, min(start, self.samples))
        end = self.samples if end is None else max(start, min(end, self.samples))
        data = os.pread(self.fd, (end - start) * 4, start * 4)
        return np.frombuffer(data, dtype=np.float32).copy()

    def close(self) -> None:
        self._closer()


def decode_to_file(source: str | Path | BinaryIO, directory: Path, rate: int = SAMPLE_RATE,
                   max_seconds: float | None = None) -> PcmFile:
    """Stream-decode `source` into a PcmFile under `directory`; memory stays at one decoded frame, and
    decoding stops (AudioTooLong) past `max_seconds`."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="pcm-", suffix=".f32", dir=directory)
    os.unlink(name)
    samples = 0
    try:
        with os.fdopen(os.dup(fd), "wb", buffering=1 << 20) as out:
            for block in iter_pcm(source, rate, max_seconds):
                out.write(block.tobytes())
                samples += len(block)
    except BaseException:
        os.close(fd)
        raise
    return PcmFile(fd, samples, rate)


def pcm_from_array(audio: np.ndarray, directory: Path, rate: int = SAMPLE_RATE) -> PcmFile:
    """Wrap samples already in memory as a PcmFile (tests, callers that hold an array)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="pcm-", suffix=".f32", dir=directory)
    os.unlink(name)
    os.pwrite(fd, np.ascontiguousarray(audio, dtype=np.float32).tobytes(), 0)
    return PcmFile(fd, len(audio), rate)
