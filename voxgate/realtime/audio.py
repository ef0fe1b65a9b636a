"""A session's input audio as it arrives: 24 kHz pcm16 (or 8 kHz G.711 µ-law / A-law) in any-sized pieces,
16 kHz float32 out for VAD and Whisper. PyAV (FFmpeg's codecs and resampler) does the work; its resampler
keeps its filter state across pieces, so the joins between appends are seamless."""

from __future__ import annotations

import av
import numpy as np

from voxgate.audio import SAMPLE_RATE

_CODECS = {"audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw"}


class InputAudio:
    def __init__(self, fmt: str, rate: int) -> None:
        self.format = fmt
        self.rate = rate
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self._codec: av.CodecContext | None = None
        if fmt in _CODECS:
            codec = av.CodecContext.create(_CODECS[fmt], "r")
            codec.sample_rate = rate  # type: ignore[attr-defined]
            codec.layout = "mono"  # type: ignore[attr-defined]
            self._codec = codec
        self._odd = b""  # half of a pcm16 sample split across two appends
        self.received = 0  # input samples so far (at the input rate)

    def seconds(self, data: bytes) -> float:
        """What `data` holds, in seconds of audio."""
        width = 1 if self._codec is not None else 2
        return len(data) / width / self.rate

    def feed(self, data: bytes) -> np.ndarray:
        """The 16 kHz samples these bytes add (possibly none yet: the resampler holds a few back)."""
        frames: list[av.AudioFrame] = []
        if self._codec is not None:
            self.received += len(data)
            frames = list(self._codec.decode(av.Packet(data)))  # type: ignore[attr-defined]
        else:
            data = self._odd + data
            cut = len(data) - len(data) % 2
            self._odd = data[cut:]
            if cut:
                pcm = np.frombuffer(data[:cut], dtype="<i2").reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                frame.sample_rate = self.rate
                frames = [frame]
                self.received += pcm.shape[1]
        out = [f.to_ndarray().reshape(-1) for frame in frames for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, dtype=np.float32)
