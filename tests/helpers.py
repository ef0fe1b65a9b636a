"""Shared test helpers: word error rate with OpenAI-style normalisation, PyAV decoding of responses."""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import jiwer
import numpy as np

DATA = Path(__file__).parent / "data"
LIBRIVOX = DATA / "librivox"

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SPELLING = {"mister": "mr", "misses": "mrs", "doctor": "dr", "ill-disposed": "ill disposed"}


def _number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    return " ".join(_ONES[int(d)] for d in str(n))


def normalize(text: str) -> str:
    """Lower-case, spell numbers, drop punctuation, unify a few spellings: what WER should not count."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"\d+", lambda m: " " + _number(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z' ]+", " ", text).replace("'", "")
    words = [_SPELLING.get(w, w) for w in text.split()]
    return " ".join(words)


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))


def librivox_clips() -> list[tuple[Path, str]]:
    """The five public-domain LibriVox clips of Debian's pocketsphinx-testdata with their transcripts."""
    rows = (LIBRIVOX / "transcription.tsv").read_text().strip().splitlines()
    return [(LIBRIVOX / f"{name}.wav", text) for name, text in (r.split("\t", 1) for r in rows)]


def speech_parts() -> list[np.ndarray]:
    """The LibriVox clips, then the two-voice conversation, at 16 kHz: about 53 s of speech in all."""
    from tests.realtime_client import load16k

    return [load16k(path) for path, _ in librivox_clips()] + [load16k(DATA / "diarize_two_voices.wav")]


def long_speech_wav() -> bytes:
    """`speech_parts()` one after another, as one WAV file (a long upload for jobs and remote decoding)."""
    return wav_bytes(np.concatenate(speech_parts()))


@dataclass
class Decoded:
    codec: str
    sample_rate: int
    channels: int
    samples: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def decode(data: bytes) -> Decoded:
    """Decode an audio response back with PyAV (fails the test if it is not valid audio)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        codec = stream.codec_context.name
        rate = stream.codec_context.sample_rate
        channels = stream.codec_context.channels
    pcm = np.concatenate([f.reshape(channels, -1) if f.ndim == 2 and f.shape[0] == channels
                          else f.reshape(-1, channels).T
                          for f in frames], axis=1)
    return Decoded(codec=codec, sample_rate=rate, channels=channels, samples=pcm[0].astype(np.float32))


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    """Float samples as a 16-bit mono WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()
