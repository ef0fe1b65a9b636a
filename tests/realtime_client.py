"""Streaming audio into a realtime transcription session with the official SDK's client, paced like a live
microphone (or faster), and recording every server event with its arrival time. Shared by the tests and
bench/bench_realtime.py."""

from __future__ import annotations

import base64
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import openai
from scipy.signal import resample_poly

INPUT_RATE = 24000


def load16k(source: str | Path | bytes) -> np.ndarray:
    """A recording (a path, or its bytes) as 16 kHz mono float32, decoded with PyAV."""
    with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        return np.concatenate([f.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                               for f in resampler.resample(frame)])


def pcm24(samples16k: np.ndarray) -> bytes:
    """16 kHz float samples as the session's default input: 24 kHz little-endian pcm16."""
    up = resample_poly(samples16k.astype(np.float64), 3, 2)
    return (np.clip(up, -1, 1) * 32767).astype("<i2").tobytes()


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    """Near-silence with a little noise (a real microphone is never digital zero)."""
    rng = np.random.default_rng(7)
    return (rng.standard_normal(int(seconds * rate)) * 3e-4).astype(np.float32)


@dataclass
class Recorded:
    events: list[tuple[float, Any]] = field(default_factory=list)  # (seconds since the first append, event)
    sent_s: float = 0.0  # when the last audio was sent

    def of(self, kind: str) -> list[Any]:
        return [e for _, e in self.events if e.type == kind]

    def at(self, kind: str) -> list[float]:
        return [t for t, e in self.events if e.type == kind]

    def completed(self) -> list[Any]:
        return self.of("conversation.item.input_audio_transcription.completed")


def stream(client: openai.OpenAI, audio: bytes, session: dict[str, Any], *, pace: float = 1.0,
           chunk_s: float = 0.1, bytes_per_s: int = INPUT_RATE * 2, items: int = 1, commit: bool = False,
           timeout_s: float = 120.0, before: list[dict[str, Any]] | None = None) -> Recorded:
    """Send `audio` (already in the session's input format) in `chunk_s` pieces at `pace` x real time, then
    wait until `items` transcriptions have completed (or failed). `before`: raw events sent first."""
    out = Recorded()
    step = int(bytes_per_s * chunk_s) // 2 * 2
    with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        conn.session.update(session=session)  # type: ignore[arg-type]
        for raw in before or []:
            conn.send(raw)  # type: ignore[arg-type]
        start = time.monotonic()
        stop = threading.Event()
        counted = [0]  # items done, shared with the sender

        def send() -> None:
            for i in range(0, len(audio), step):
                wait = start + (i / bytes_per_s) / pace - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    return
                conn.input_audio_buffer.append(audio=base64.b64encode(audio[i:i + step]).decode())
            out.sent_s = time.monotonic() - start
            if commit:
                conn.input_audio_buffer.commit()
            elif counted[0] >= items:  # everything expected came in while the last audio was being sent
                conn.close()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        watchdog = threading.Timer(timeout_s, conn.close)
        watchdog.start()
        try:
            for event in conn:
                out.events.append((time.monotonic() - start, event))
                if event.type in ("conversation.item.input_audio_transcription.completed",
                                  "conversation.item.input_audio_transcription.failed"):
                    counted[0] += 1
                    if counted[0] >= items and not sender.is_alive():
                        break
        finally:
            watchdog.cancel()
            stop.set()
            sender.join(5)
    return out
