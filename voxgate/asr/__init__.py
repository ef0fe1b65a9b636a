"""Whisper speech recognition only: 16 kHz samples in, a Transcript out.

One stage per module: `vad` (Silero over a stream), `chunking` (window planning), `window` (the data a
window carries), `engine` (faster-whisper / CTranslate2 calls), `scheduler` (batches across requests),
`segments` (cutting aligned words into segments), `hallucination` (guards), `stitch` (windows back into
one transcript) and `longform` (all of it, for audio of any length)."""

from voxgate.asr.engine import WhisperEngine
from voxgate.asr.longform import ArraySamples, Cancelled, Progress, Samples, transcribe
from voxgate.asr.vad import VadParams
from voxgate.asr.window import DecodeOptions

__all__ = ["ArraySamples", "Cancelled", "DecodeOptions", "Progress", "Samples", "VadParams", "WhisperEngine",
           "transcribe"]
