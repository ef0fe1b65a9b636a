"""Cutting a reply that arrives token by token into pieces worth speaking: the first one as soon as a clause
is complete (the first audio waits for nothing more), then whole sentences."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"')\]]*(?=\s)|\n+")
_CLAUSE_END = re.compile(r"[,;:，；：—–](?=\s)")
FIRST_CLAUSE_CHARS = 24  # a first piece cut at a comma must hold at least this much
_MARKUP = re.compile(r"[*_`#>|~]+|^\s*[-•]\s+|\[(.*?)\]\(.*?\)", re.MULTILINE)


def speakable(text: str) -> str:
    """Markdown an LLM slips in (bold, headings, bullets, links) is not read aloud."""
    return re.sub(r"\s+", " ", _MARKUP.sub(lambda m: m.group(1) or " ", text)).strip()


def last_sentence_end(text: str) -> int:
    """The length of `text` up to its last complete sentence (0: none)."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    return max((e for e in ends if e <= len(text)), default=0)


class SentenceSplitter:
    def __init__(self) -> None:
        self.buffer = ""
        self.pieces = 0

    def feed(self, delta: str) -> list[str]:
        """The pieces `delta` completes, in order."""
        self.buffer += delta
        out: list[str] = []
        while True:
            match = _SENTENCE_END.search(self.buffer)
            if match is None and self.pieces == 0:
                clause = next((m for m in _CLAUSE_END.finditer(self.buffer) if m.end() >= FIRST_CLAUSE_CHARS), None)
                match = clause
            if match is None:
                return out
            piece, self.buffer = self.buffer[:match.end()], self.buffer[match.end():]
            if piece.strip():
                out.append(piece.strip())
                self.pieces += 1

    def flush(self) -> str:
        """What is left once the reply is over."""
        rest, self.buffer = self.buffer.strip(), ""
        return rest
