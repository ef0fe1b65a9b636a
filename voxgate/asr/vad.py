"""Where the speech is: Silero VAD (bundled with faster-whisper) run over a stream, block by block.

Long files are never loaded whole, so the detector keeps Silero's recurrent state and frame context
between blocks, and turns probabilities into speech regions incrementally: regions close as soon as a
long-enough pause is seen, and the chunk planner can start work before the file is fully analysed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

from voxgate.audio import SAMPLE_RATE

FRAME = 512  # samples per Silero frame: 32 ms
_CONTEXT = 64  # samples of the previous frame Silero v6 sees in front of each frame


@dataclass(frozen=True)
class VadParams:
    """How speech is told from silence; OpenAI's server_vad knobs map onto the first three."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300  # audio kept before each speech onset
    silence_duration_ms: int = 200  # a pause at least this long ends a speech region
    suffix_padding_ms: int = 300  # audio kept after each region (word endings are soft)
    min_speech_ms: int = 96  # shorter blips (clicks, breaths) are not speech

    @property
    def neg_threshold(self) -> float:
        """Hysteresis: once in speech, stay until the probability falls below this."""
        return max(self.threshold - 0.15, 0.01)

    def frames(self, ms: int) -> int:
        return int(round(ms * SAMPLE_RATE / 1000 / FRAME))


@dataclass(frozen=True)
class Region:
    """Speech between two frame indices, [start, end)."""

    start: int
    end: int


class SileroStream:
    """Speech probability of every 32 ms frame of a stream, fed in blocks of any multiple of FRAME."""

    def __init__(self) -> None:
        self.session = get_vad_model().session  # shared: onnxruntime sessions are thread-safe
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(_CONTEXT, dtype=np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if len(block) % FRAME:
            block = np.pad(block, (0, FRAME - len(block) % FRAME))
        if not len(block):
            return np.zeros(0, dtype=np.float32)
        frames = block.reshape(-1, FRAME)
        context = np.concatenate([self.context[None], frames[:-1, -_CONTEXT:]])
        self.context = frames[-1, -_CONTEXT:].copy()
        probs, self.h, self.c = self.session.run(
            None, {"input": np.concatenate([context, frames], axis=1), "h": self.h, "c": self.c})
        return np.asarray(probs, dtype=np.float32).reshape(-1)


class SpeechTracker:
    """Frame probabilities in, closed speech regions out (unpadded, in frames), with hysteresis."""

    def __init__(self, params: VadParams) -> None:
        self.params = params
        self.min_silence = max(1, params.frames(params.silence_duration_ms))
        self.min_speech = params.frames(params.min_speech_ms)
        self.frame = 0  # index of the next frame to be fed
        self.start: int | None = None  # open region's first frame
        self.last_speech = 0  # open region's last frame at or above neg_threshold

    def feed(self, probs: np.ndarray) -> list[Region]:
        closed: list[Region] = []
        high = probs >= self.params.threshold
        alive = probs >= self.params.neg_threshold
        for i in range(len(probs)):
            frame = self.frame + i
            if self.start is None:
                if high[i]:
                    self.start, self.last_speech = frame, frame
            elif alive[i]:
                self.last_speech = frame
            elif frame - self.last_speech >= self.min_silence:
                self._close(closed)
        self.frame += len(probs)
        return closed

    def finish(self) -> list[Region]:
        closed: list[Region] = []
        if self.start is not None:
            self._close(closed)
        return closed

    def _close(self, out: list[Region]) -> None:
        assert self.start is not None
        if self.last_speech + 1 - self.start >= self.min_speech:
            out.append(Region(self.start, self.last_speech + 1))
        self.start = None
