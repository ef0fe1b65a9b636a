"""Custom voices a key made from a reference clip, and the cached matches of reference clips."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CustomVoice:
    """A voice a key made from a reference clip: a blend of a speech model's bundled voices, matched to it."""

    id: str
    key_id: str
    name: str
    consent: str
    model: str
    voice: str  # the blend expression the speech engine takes
    language: str | None
    gender: str | None
    similarity: float  # speaker-embedding cosine between the reference and the matched voice
    sample_sha256: str
    created_at: float

    def public(self) -> dict[str, Any]:
        """The `audio.voice` object clients see (OpenAI's fields, then what voxgate adds)."""
        return {"id": self.id, "object": "audio.voice", "name": self.name, "created_at": int(self.created_at),
                "type": "audio_sample", "model": self.model, "language": self.language, "gender": self.gender,
                "matched_voice": self.voice, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class VoiceMatchRecord:
    """A reference clip's match, kept by the clip's hash so the same clip is never matched twice."""

    sample_sha256: str
    model: str
    voice: str
    similarity: float
    details: str  # JSON: the default's and the best single voice's similarity, the candidates tried


class VoiceLimitReached(Exception):
    """A key already has as many custom voices as it may."""


class VoiceStore(Protocol):
    """Custom voices per API key, and the match cache. Calls block: run them off the event loop."""

    def create(self, voice: CustomVoice, max_per_key: int) -> CustomVoice:
        """Store a new voice; VoiceLimitReached when its key already has `max_per_key`."""

    def get(self, voice_id: str) -> CustomVoice | None: ...

    def list(self, key_id: str | None) -> list[CustomVoice]:
        """A key's voices, oldest first (every key's when `key_id` is None)."""

    def delete(self, voice_id: str) -> bool: ...

    def cached_match(self, sample_sha256: str, model: str) -> VoiceMatchRecord | None: ...

    def remember_match(self, record: VoiceMatchRecord) -> None: ...
