"""Choosing a short clip's language when Whisper's detector is unsure of it.

Whisper's detector reads the first encoder output only, and on a clip of a few seconds it is often wrong
(Italian heard as Japanese or French, Polish as Czech). When its best guess is below SECOND_OPINION_BELOW,
the window is also decoded in the runner-up languages, and the candidate with the best score wins:

    log p(language | audio)  +  2 * average token log-probability of its decode
                             +  0.5 * log p_text(language | decoded text)

The decode's own likelihood says which language the audio reads best in; the text identifier (py3langid, a
naive-Bayes model over byte n-grams shipped inside its wheel) is the second opinion on the decoded text.
The weights were chosen on the language benchmark's clips (bench/bench_language.py), fitted on one voice
and checked on the other."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache

from faster_whisper.tokenizer import _LANGUAGE_CODES

SECOND_OPINION_BELOW = 0.8  # detector probability under which the runners-up are decoded too
CANDIDATES = 3  # the detector's top languages that are decoded
RIVAL_FLOOR = 0.02  # runners-up less probable than this are not worth a decode
LOGPROB_WEIGHT = 2.0
TEXT_WEIGHT = 0.5
TEXT_FLOOR = 1e-3  # p_text of a language the text identifier rules out: a penalty, not minus infinity


@dataclass(frozen=True)
class Candidate:
    language: str
    probability: float  # the detector's
    avg_logprob: float  # of the window decoded in this language
    text: str


class _TextIdentifier:
    """py3langid limited to the languages Whisper knows, loaded on first use (about 0.3 s, 30 MB)."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._model.set_languages([code for code in self._model.labels if code in _LANGUAGE_CODES])
        self._lock = threading.Lock()  # rank() keeps scratch state on the model

    def probability(self, text: str, language: str) -> float:
        if not text.strip():
            return 0.0
        with self._lock:
            return float(dict(self._model.rank(text)).get(language, 0.0))


@cache
def text_identifier() -> _TextIdentifier:
    return _TextIdentifier()


def score(candidate: Candidate) -> float:
    text_p = text_identifier().probability(candidate.text, candidate.language)
    return (math.log(max(candidate.probability, 1e-6)) + LOGPROB_WEIGHT * candidate.avg_logprob
            + TEXT_WEIGHT * math.log(text_p + TEXT_FLOOR))


def rivals(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The runners-up worth decoding when the best guess is unsure ([] when it is sure)."""
    if not ranked or ranked[0][1] >= SECOND_OPINION_BELOW:
        return []
    return [(code, p) for code, p in ranked[1:CANDIDATES] if p >= RIVAL_FLOOR]


def best(candidates: list[Candidate]) -> Candidate:
    return max(candidates, key=score)
