"""What `previous_response_id` continues from: each key's responses, kept bounded (messages per
conversation, days kept) behind `ResponseStore`."""

from __future__ import annotations

import time

from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.store.interfaces import ResponseStore, StoredConversation

PURGE_EVERY_S = 3600.0


class ResponseLog:
    def __init__(self, store: ResponseStore, max_messages: int, retention_days: float) -> None:
        self.store = store
        self.max_messages = max_messages
        self.retention_s = retention_days * 86400
        self._last_purge = 0.0

    def history(self, principal: Principal, response_id: str) -> list[dict[str, str]]:
        """The messages up to and including `response_id`, or 404 (another key's ids are not found either)."""
        found = self.store.get(principal.key_id, response_id)
        if found is None or found.created_at < time.time() - self.retention_s:
            raise APIError(404, f"response {response_id!r} not found", code="response_not_found",
                           param="previous_response_id")
        return found.messages

    def keep(self, principal: Principal, response_id: str, messages: list[dict[str, str]]) -> None:
        """Store the conversation as of this response (system messages are the request's own, not kept)."""
        kept = [m for m in messages if m["role"] != "system"][-self.max_messages:]
        now = time.time()
        self.store.save(StoredConversation(response_id, principal.key_id, kept, now))
        if now - self._last_purge > PURGE_EVERY_S:
            self._last_purge = now
            self.store.purge(now - self.retention_s)
