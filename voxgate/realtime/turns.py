"""server_vad on a live stream: Silero's speech probability per 32 ms frame, turned into `start` and `stop`
as audio arrives, with OpenAI's knobs (threshold, prefix padding, silence duration).

Blocking (Silero runs in onnxruntime): call `feed` off the event loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voxgate.asr.vad import FRAME, SileroStream

MIN_SPEECH_FRAMES = 3  # 96 ms above the threshold before a turn starts: a click or a breath is not speech
HYSTERESIS = 0.15  # once speaking, a frame counts as speech down to threshold - this


@dataclass(frozen=True)
class Edge:
    """A turn's start or stop, as a sample index (16 kHz) on the session's timeline."""

    kind: str  # "start" | "stop"
    sample: int


class TurnDetector:
    def __init__(self, threshold: float, silence_duration_ms: int) -> None:
        self.threshold = threshold
        self.stay = max(threshold - HYSTERESIS, 0.01)
        self.min_silence = max(1, math.ceil(silence_duration_ms / 32))
        self._silero = SileroStream()
        self._pending = np.zeros(0, dtype=np.float32)
        self.frame = 0  # frames seen
        self.speaking = False
        self._run = 0  # speech frames in a row while not speaking
        self._last_speech = -1  # last frame counted as speech

    @property
    def paused_ms(self) -> int:
        """How long an open turn has been quiet (0 while speech goes on, or when no turn is open)."""
        return (self.frame - 1 - self._last_speech) * 32 if self.speaking else 0

    @property
    def speech_end(self) -> int:
        """The sample after an open turn's last speech frame so far."""
        return (self._last_speech + 1) * FRAME

    def feed(self, samples: np.ndarray) -> list[Edge]:
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        whole = len(data) - len(data) % FRAME
        self._pending = data[whole:].copy()
        if not whole:
            return []
        edges: list[Edge] = []
        for p in self._silero(data[:whole]):
            frame = self.frame
            self.frame += 1
            if not self.speaking:
                self._run = self._run + 1 if p >= self.threshold else 0
                if self._run >= MIN_SPEECH_FRAMES:
                    self.speaking, self._last_speech = True, frame
                    edges.append(Edge("start", (frame - MIN_SPEECH_FRAMES + 1) * FRAME))
            elif p >= self.stay:
                self._last_speech = frame
            elif frame - self._last_speech >= self.min_silence:
                self.speaking, self._run = False, 0
                edges.append(Edge("stop", (self._last_speech + 1) * FRAME))
        return edges

    def reset(self) -> None:
        """Forget an open turn (the buffer was cleared or committed by the client)."""
        self.speaking, self._run = False, 0
