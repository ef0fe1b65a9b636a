"""Deltas that only grow, from drafts that change: a word is sent once two drafts in a row agree on it and on
everything before it (local agreement), so a later draft cannot take back what the client already shows.

Words are compared without case or punctuation (Whisper moves commas and capitals as a sentence grows); the
client gets each word as the draft that confirmed it wrote it."""

from __future__ import annotations

import re

_NORMAL = re.compile(r"[^\w']+")


def normal(word: str) -> str:
    return _NORMAL.sub("", word.lower())


def words(text: str) -> list[str]:
    return [w for w in text.split() if normal(w)]


class StablePrefix:
    def __init__(self) -> None:
        self.sent: list[str] = []  # words already sent as deltas, as sent
        self._previous: list[str] = []  # the last draft's words

    def text(self) -> str:
        return " ".join(self.sent)

    def offer(self, draft: str) -> str:
        """The delta this draft confirms ('' when none): words both it and the previous draft have, past
        those already sent, as long as the sent words still lead the draft."""
        current = words(draft)
        agreed = 0
        for a, b in zip(self._previous, current):
            if normal(a) != normal(b):
                break
            agreed += 1
        self._previous = current
        if agreed <= len(self.sent) or not _leads(self.sent, current):
            return ""
        new = current[len(self.sent):agreed]
        delta = (" " if self.sent else "") + " ".join(new)
        self.sent += new
        return delta

    def finish(self, final: str) -> str:
        """The last delta, so that the deltas add up to the final transcript when it still begins with what
        was sent ('' when it does not: the completed event's transcript is the one to keep)."""
        current = words(final)
        if not _leads(self.sent, current):
            return ""
        rest = current[len(self.sent):]
        self.sent += rest
        return ((" " if len(self.sent) > len(rest) else "") + " ".join(rest)) if rest else ""


def _leads(prefix: list[str], whole: list[str]) -> bool:
    return len(prefix) <= len(whole) and all(normal(a) == normal(b) for a, b in zip(prefix, whole))
