"""Who may use which custom voice: a voice belongs to the key that made it (admin keys see and use all), each
key keeps a bounded number, and a reference clip's match is cached by its hash for every key."""

from __future__ import annotations

import json
import secrets
import time

from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.store.interfaces import CustomVoice, VoiceLimitReached, VoiceMatchRecord, VoiceStore


def _not_found(voice_id: str) -> APIError:
    return APIError(404, f"no custom voice {voice_id!r} for this API key", code="voice_not_found", param="voice")


class VoiceLibrary:
    """The custom voices' policy over a VoiceStore; every call blocks (run it off the event loop)."""

    def __init__(self, store: VoiceStore, max_per_key: int) -> None:
        self.store = store
        self.max_per_key = max_per_key

    def add(self, principal: Principal, *, name: str, consent: str, model: str, voice: str, language: str | None,
            gender: str | None, similarity: float, sample_sha256: str) -> CustomVoice:
        record = CustomVoice(id=f"voice_{secrets.token_hex(12)}", key_id=principal.key_id, name=name, consent=consent,
                             model=model, voice=voice, language=language, gender=gender, similarity=similarity,
                             sample_sha256=sample_sha256, created_at=time.time())
        try:
            return self.store.create(record, self.max_per_key)
        except VoiceLimitReached:
            raise APIError(429, f"this API key already has {self.max_per_key} custom voices; delete one first",
                           code="voice_limit_reached") from None

    def get(self, principal: Principal, voice_id: str) -> CustomVoice:
        voice = self.store.get(voice_id)
        if voice is None or not (principal.admin or voice.key_id == principal.key_id):
            raise _not_found(voice_id)
        return voice

    def list(self, principal: Principal) -> list[CustomVoice]:
        return self.store.list(None if principal.admin else principal.key_id)

    def delete(self, principal: Principal, voice_id: str) -> None:
        self.get(principal, voice_id)
        self.store.delete(voice_id)

    def cached_match(self, sample_sha256: str, model: str) -> VoiceMatchRecord | None:
        return self.store.cached_match(sample_sha256, model)

    def remember_match(self, sample_sha256: str, model: str, voice: str, similarity: float,
                       details: dict[str, object]) -> None:
        self.store.remember_match(VoiceMatchRecord(sample_sha256, model, voice, similarity, json.dumps(details)))
