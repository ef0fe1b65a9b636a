"""Cut input text into pieces for streaming: the first piece is short so audio starts early."""

from __future__ import annotations

import re

# Chinese and Japanese punctuation ends a sentence or a clause without a space after it.
_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|(?<=[\u3002\uff01\uff1f])\s*|\n+")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:\u2014-])\s+|(?<=[\uff0c\u3001\uff1b\uff1a])\s*")
# A later piece may run past its budget to the next clause break (or the end of a longer word) by this factor;
# a cut inside a clause does not end on a word this short.
CLAUSE_REACH = 1.5
SHORT_WORD = 3
MIN_TAIL = 20  # characters: a shorter rest of a sentence goes with the piece before it
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|No|Inc|Ltd|Co)|\b[A-Z])\.$")


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends and line breaks, keeping the punctuation with its sentence."""
    sentences: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if not part:
            continue
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {part}"  # "Mr." or "J." does not end a sentence
        else:
            sentences.append(part)
    return sentences


def split_for_streaming(text: str, first_max_chars: int = 100, max_chars: int = 300,
                        growth: float | None = None) -> list[str]:
    """Sentences, with the first one cut short and very long ones cut at clauses.

    An engine that synthesises a whole piece before returning it starts only after its first piece, so a
    long first sentence is cut at its first clause break (or, when it has none and is very long, at a word
    boundary), and a 1,000-character request starts about as fast as a short one. Cutting mid-clause costs
    intonation (measured: Piper's round trip through Whisper loses words), so clause breaks are preferred and
    later pieces stay whole sentences.

    With `growth`, for an engine slower than about a fifth of real time, every piece may be at most `growth`
    times as long as the one before (up to `max_chars`), cut at clause breaks, else at word boundaries: a
    short first piece followed by a whole long sentence would leave the listener waiting in silence for the
    second."""
    if growth is not None:
        return _ramp(text, first_max_chars, max_chars, growth)
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if not pieces and len(sentence) > first_max_chars:
            head, rest = _first_piece(sentence, first_max_chars)
            pieces.append(head)
            sentence = rest
            if not sentence:
                continue
        pieces.extend(_cut(sentence, max_chars) if len(sentence) > max_chars else [sentence])
    return pieces


def _ramp(text: str, first_max_chars: int, max_chars: int, growth: float) -> list[str]:
    pieces: list[str] = []
    budget = float(first_max_chars)
    for sentence in split_sentences(text):
        while sentence:
            # the first piece is cut for time alone; later ones also keep short words with their phrase
            head, sentence = _prefix(sentence, int(budget), phrase_aware=bool(pieces))
            pieces.append(head)
            budget = min(float(max_chars), max(budget, len(head) * growth))
    return pieces


def _prefix(sentence: str, limit: int, phrase_aware: bool = True) -> tuple[str, str]:
    """The whole sentence when it fits `limit` (or passes it by a tail too short to be worth a seam); else
    its longest clause-ending prefix within `limit`, or its first one within CLAUSE_REACH x `limit`; else a
    prefix of whole words.

    Measured (whisper-base round trips of every Kokoro voice): a seam inside a clause costs words when it
    falls between a short function word and its phrase ("in the | morning" was heard "in this, morning"),
    a seam at a comma costs none, and a piece somewhat longer than its budget only delays that piece."""
    if len(sentence) <= limit * 1.25:
        return sentence, ""
    best = -1
    for match in _CLAUSE_BREAK.finditer(sentence):
        if match.start() > limit:
            if best <= 0 and phrase_aware and match.start() <= limit * CLAUSE_REACH:
                best = match.start()
            break
        best = match.start()
    if best <= 0:
        best = _word_cut(sentence, limit, phrase_aware)
    if best <= 0 or (phrase_aware and len(sentence) - best < MIN_TAIL and len(sentence) <= limit * CLAUSE_REACH):
        return sentence, ""
    return sentence[:best].strip(), sentence[best:].strip()


def _word_cut(sentence: str, limit: int, phrase_aware: bool) -> int:
    """The last space within `limit` (past a lone short word); phrase-aware, the last one there that
    follows a word longer than SHORT_WORD (articles and prepositions stay with the phrase they begin) and
    leaves two words, else the first such space within CLAUSE_REACH x `limit`."""
    spaces = [i for i, c in enumerate(sentence) if c == " "]
    within = [i for i in spaces if i <= limit]
    plain = within[-1] if within else (spaces[0] if spaces else -1)  # the cut for time alone
    if not phrase_aware:  # but never one short word ("La" | "biblioteca" was heard "La e")
        lone = within and len(sentence[:plain].split()) == 1 and len(sentence[:plain].strip()) <= SHORT_WORD
        return spaces[len(within)] if lone and len(spaces) > len(within) else plain

    def ends_well(i: int) -> bool:
        words = sentence[:i].split()
        return len(words[-1]) > SHORT_WORD

    for i in reversed(within):
        if len(sentence[:i].split()) >= 2 and ends_well(i):
            return i
    for i in spaces:
        if limit < i <= limit * CLAUSE_REACH and ends_well(i):
            return i
    return plain


def _first_piece(sentence: str, limit: int) -> tuple[str, str]:
    """The longest clause-ending prefix within `limit`; a word-boundary cut only for a sentence over
    1.6 x `limit` with no clause break; else the whole sentence."""
    best = -1
    for match in _CLAUSE_BREAK.finditer(sentence):
        if match.start() > limit:
            break
        best = match.start()
    if best < 0:
        if len(sentence) <= limit * 1.6:
            return sentence, ""
        best = sentence.rfind(" ", 0, limit)
        if best < 0:
            return sentence, ""
    return sentence[:best].strip(), sentence[best:].strip()


def _cut(sentence: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for clause in _CLAUSE_BREAK.split(sentence):
        if current and len(current) + 1 + len(clause) > limit:
            out.append(current)
            current = clause
        else:
            current = f"{current} {clause}".strip()
        while len(current) > 2 * limit:  # no clause break at all: cut at a word boundary
            cut = current.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            out.append(current[:cut].strip())
            current = current[cut:].strip()
    if current:
        out.append(current)
    return out
