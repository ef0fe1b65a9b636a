"""Float PCM -> mp3/opus/aac/flac/wav/pcm as a byte stream: every call to `write` returns what is ready."""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import cast

import av
import numpy as np

OUTPUT_RATE = 24000
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# response_format -> (container, codec)
_CODECS = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
}


class _Sink:
    """A write-only file for PyAV: muxers that cannot seek back write streamable headers."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer.extend(data)
        return len(data)

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class StreamEncoder:
    """Resample PCM from the engine's rate to 24 kHz and encode it incrementally."""

    def __init__(self, response_format: str, input_rate: int, output_rate: int = OUTPUT_RATE) -> None:
        if response_format not in CONTENT_TYPES:
            raise ValueError(f"unsupported response_format {response_format!r}")
        self.format = response_format
        self.input_rate = input_rate
        self.output_rate = output_rate
        self._pts = 0
        self._header_sent = False
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=output_rate)
        self._sink = _Sink()
        self._container: av.container.OutputContainer | None = None
        self._stream: av.audio.stream.AudioStream | None = None
        if response_format in _CODECS:
            container_format, codec = _CODECS[response_format]
            self._container = av.open(self._sink, mode="w", format=container_format)
            self._stream = cast(av.audio.stream.AudioStream,
                                self._container.add_stream(codec, rate=output_rate, layout="mono"))
            if response_format == "mp3":
                self._stream.bit_rate = 64000
            elif response_format in ("opus", "aac"):
                self._stream.bit_rate = 48000

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def _resample(self, samples: np.ndarray | None) -> list[av.AudioFrame]:
        if samples is None:
            return list(self._resampler.resample(None))
        pcm = np.clip(samples, -1.0, 1.0)
        data = (pcm * 32767.0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
        frame.sample_rate = self.input_rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.input_rate)
        self._pts += data.shape[1]
        return list(self._resampler.resample(frame))

    def _encode(self, frames: list[av.AudioFrame], flush: bool) -> bytes:
        if self._container is None:
            raw = b"".join(bytes(f.to_ndarray().astype("<i2").tobytes()) for f in frames)
            if self.format == "wav" and not self._header_sent:
                self._header_sent = True
                return _wav_header(self.output_rate) + raw
            return raw
        assert self._stream is not None
        for f in frames:
            for packet in self._stream.encode(f):
                self._container.mux(packet)
        if flush:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        return self._sink.take()

    def write(self, samples: np.ndarray) -> bytes:
        """Encode one block of float32 samples in [-1, 1]; returns the bytes ready to send."""
        if samples.size == 0:
            return b""
        return self._encode(self._resample(samples), flush=False)

    def close(self) -> bytes:
        """Flush the resampler and encoder and finish the container."""
        data = self._encode(self._resample(None), flush=True)
        if self.format == "wav" and not self._header_sent:
            self._header_sent = True
            data = _wav_header(self.output_rate) + data
        return data


def _wav_header(rate: int) -> bytes:
    """A RIFF header for a stream whose length is unknown when it starts (sizes set to the maximum)."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", unknown))
