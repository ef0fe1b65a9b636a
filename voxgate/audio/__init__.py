"""Audio in and out: decoding uploads to 16 kHz mono float32, and streaming encoders for every output format."""

SAMPLE_RATE = 16000
"""The one sample rate every analysis stage works at (Whisper, Silero VAD, the speaker encoder)."""
