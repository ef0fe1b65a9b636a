"""Voice expressions and speaking hints: blends of native voices ("af_bella(2)+af_sky(1)", Kokoro-FastAPI's
convention), the language a request asks for, and pace words in `instructions`.

Pure parsing, no engine: the service validates with it before any credit is held, and the Kokoro engine mixes
the parsed weights into one style table."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BLEND_PARTS = 8
_PART = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*$")

# What `language` may be, per ISO-639-1 code or BCP-47 tag, as Kokoro's espeak language.
KOKORO_LANGUAGES: dict[str, str] = {
    "en": "en-us", "en-us": "en-us", "en-gb": "en-gb", "es": "es", "fr": "fr-fr", "fr-fr": "fr-fr", "hi": "hi",
    "it": "it", "ja": "ja", "pt": "pt-br", "pt-br": "pt-br", "zh": "cmn", "cmn": "cmn",
}


class BlendError(ValueError):
    """The voice expression is not `voice(weight)+voice(weight)...`; the message says what is wrong."""


@dataclass(frozen=True)
class Blend:
    """Native voice ids and their weights, normalised to sum to 1, heaviest first."""

    parts: tuple[tuple[str, float], ...]

    @property
    def lead(self) -> str:
        """The heaviest voice: its language and gender stand for the blend's."""
        return self.parts[0][0]

    def expression(self) -> str:
        """The canonical text form, accepted back as `voice`."""
        if len(self.parts) == 1:
            return self.parts[0][0]
        return "+".join(f"{voice}({weight:.3g})" for voice, weight in self.parts)


def is_blend(text: str) -> bool:
    return "+" in text or "(" in text


def parse_blend(text: str) -> Blend:
    """`af_bella(2)+af_sky(1)` -> Blend((af_bella, 0.667), (af_sky, 0.333)); a part without a weight weighs 1;
    the same voice twice adds up."""
    weights: dict[str, float] = {}
    parts = text.split("+")
    if len(parts) > MAX_BLEND_PARTS:
        raise BlendError(f"a blend mixes at most {MAX_BLEND_PARTS} voices")
    for part in parts:
        match = _PART.match(part)
        if match is None:
            raise BlendError(f"{part.strip()!r} is not 'voice' or 'voice(weight)'")
        voice, weight = match.group(1), float(match.group(2) or 1.0)
        weights[voice] = weights.get(voice, 0.0) + weight
    total = sum(weights.values())
    if total <= 0:
        raise BlendError("the weights of a blend must not all be zero")
    ordered = sorted(((v, w / total) for v, w in weights.items() if w > 0), key=lambda p: (-p[1], p[0]))
    return Blend(tuple(ordered))


# Pace words in `instructions`, strongest first: "very slowly" must not read as "slowly".
_PACE_WORDS: tuple[tuple[str, float], ...] = (
    (r"\b(?:very|really|extremely) (?:slow(?:ly)?)\b", 0.7),
    (r"\b(?:very|really|extremely) (?:fast|quick(?:ly)?|rapid(?:ly)?)\b", 1.4),
    (r"\b(?:slow(?:ly|er)?|unhurried|leisurely|calm(?:ly)?|relaxed)\b", 0.85),
    (r"\b(?:fast(?:er)?|quick(?:ly|er)?|rapid(?:ly)?|brisk(?:ly)?|hurried(?:ly)?|urgent(?:ly)?)\b", 1.2),
)
_PACE = tuple((re.compile(pattern, re.IGNORECASE), factor) for pattern, factor in _PACE_WORDS)


def pace_factor(instructions: str | None) -> float:
    """How much faster (>1) or slower (<1) `instructions` ask to speak: the first pace word found wins."""
    if not instructions:
        return 1.0
    for pattern, factor in _PACE:
        if pattern.search(instructions):
            return factor
    return 1.0
