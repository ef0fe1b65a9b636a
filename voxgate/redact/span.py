"""The character span type shared by the PII detectors and the redaction entry point."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A half-open character range [start, end) of `category` PII in the text it was found in."""

    start: int
    end: int
    category: str
