"""Combining the detectors' spans and applying them to text and transcripts: the public entry point.

Detection runs on the whole transcript text so that PII spanning a segment boundary is still found,
then the character spans are mapped back onto segments and words. Four categories:

* email - written (a.b@c.com) and spoken the way Whisper writes it ("john dot smith at example dot com");
* phone - digit groups in common national/international layouts and spoken digits ("five five five ...");
* card  - 13-19 digit runs (written or spoken) that pass the Luhn check and start like a card number;
* name  - spaCy NER PERSON from the bundled en_core_web_sm copy plus a few phrase rules ("my name is X").

The detectors live next to this module (`emails`, `numbers`, `names`); import the public API from
`voxgate.redact`.

Privacy rule for this module: never log, raise or otherwise emit the text being redacted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import replace

from voxgate.redact.emails import find_emails
from voxgate.redact.names import find_names
from voxgate.redact.numbers import find_numbers
from voxgate.redact.span import Span
from voxgate.transcript import Segment, Transcript, Word

# One logger for the whole package (names.py uses the same name).
log = logging.getLogger("voxgate.redact")

CATEGORIES: tuple[str, ...] = ("email", "phone", "card", "name")
PLACEHOLDERS: dict[str, str] = {c: f"[REDACTED_{c.upper()}]" for c in CATEGORIES}
# When spans of different categories overlap the more specific detector wins.
_PRIORITY: dict[str, int] = {"email": 0, "card": 1, "phone": 2, "name": 3}

_FALSE_WORDS = {"", "false", "0", "no", "off", "none"}
_TRUE_WORDS = {"true", "1", "yes", "on", "all"}


def parse_categories(value: bool | str | list[str] | None) -> frozenset[str] | None:
    """Turn the request's `redact` field into a category set; None means "do not redact".

    Accepts a bool, "true"/"false", "all", a comma separated string or a list of category names, so the
    form-data and JSON spellings of the same request behave alike. Unknown names raise ValueError.
    """
    if value is None or value is False:
        return None
    if value is True:
        return frozenset(CATEGORIES)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _FALSE_WORDS:
            return None
        if word in _TRUE_WORDS:
            return frozenset(CATEGORIES)
        names = [p.strip().lower() for p in word.split(",")]
    elif isinstance(value, (list, tuple, set, frozenset)):
        names = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"redact categories must be strings; valid: {', '.join(CATEGORIES)}")
            names.extend(p.strip().lower() for p in item.split(","))
    else:
        raise ValueError(f"redact must be a boolean or category names; valid: {', '.join(CATEGORIES)}")
    names = [n for n in names if n]
    if any(n == "all" for n in names):
        return frozenset(CATEGORIES)
    unknown = sorted({n for n in names if n not in CATEGORIES})
    if unknown:
        raise ValueError(
            f"unknown redaction category {', '.join(repr(u) for u in unknown)}; valid: {', '.join(CATEGORIES)}"
        )
    return frozenset(names) or None


# Safety nets for what Whisper makes of spoken PII: "at" heard as a dot ("maria.gonzales.example.com")
# and card numbers with a digit too many or too few (Luhn then fails, but the digits are still sensitive).
_EMAIL_CUE = re.compile(r"\b(?:e-?mail|mail me|write to|reach me)\b", re.IGNORECASE)
_DOTTED_ADDRESS = re.compile(
    r"\b[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)+\.(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|info|biz|us|ca|au|in)\b",
    re.IGNORECASE)
_CARD_CUE = re.compile(r"\b(?:card|credit|debit|visa|mastercard|amex|american express|discover)\b", re.IGNORECASE)
# A card number Whisper mis-hears can gain digits ("4100-111111111111111111"): after a card cue, a run of
# 12 or more digits is the card, however long (up to MAX_CUED_DIGITS, which bounds the regex's work).
MAX_CUED_DIGITS = 40
_DIGIT_RUN = re.compile(rf"\d(?:[ ,.-]?\d){{11,{MAX_CUED_DIGITS - 1}}}")


def _cued(text: str, start: int, cue: re.Pattern[str], reach: int = 60) -> bool:
    """Whether `cue` occurs in the `reach` characters before `start`: the nets only fire after a cue word."""
    return bool(cue.search(text[max(0, start - reach):start]))


def _safety_net(text: str, categories: frozenset[str]) -> list[Span]:
    """Spans for cue-led dotted addresses (emails) and long digit runs after a card cue (cards)."""
    spans: list[Span] = []
    if "email" in categories:
        spans += [Span(m.start(), m.end(), "email") for m in _DOTTED_ADDRESS.finditer(text)
                  if _cued(text, m.start(), _EMAIL_CUE)]
    if "card" in categories:
        for m in _DIGIT_RUN.finditer(text):
            digits = sum(c.isdigit() for c in m.group())
            if 12 <= digits <= MAX_CUED_DIGITS and _cued(text, m.start(), _CARD_CUE):
                spans.append(Span(m.start(), m.end(), "card"))
    return spans


def _absorb(spans: list[Span], nets: list[Span]) -> list[Span]:
    """A safety-net span replaces every detector span it overlaps (it is the wider reading of that text)."""
    if not nets:
        return spans
    kept = [s for s in spans if not any(s.start < n.end and n.start < s.end for n in nets)]
    return kept + nets


def _resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans in text order: higher-priority category first, then longer spans."""
    chosen: list[Span] = []
    for sp in sorted(spans, key=lambda s: (_PRIORITY[s.category], -(s.end - s.start), s.start)):
        if sp.end <= sp.start:
            continue
        if any(sp.start < c.end and c.start < sp.end for c in chosen):
            continue
        chosen.append(sp)
    return sorted(chosen, key=lambda s: s.start)


class Redactor:
    """Finds and replaces PII of the chosen categories. Cheap to build; the NER model is shared."""

    def __init__(self, categories: Iterable[str] = CATEGORIES) -> None:
        cats = frozenset(categories)
        unknown = cats - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown redaction category; valid: {', '.join(CATEGORIES)}")
        self.categories = cats

    def find(self, text: str) -> list[Span]:
        """All PII spans of the enabled categories: sorted, non-overlapping."""
        if not text or not self.categories:
            return []
        spans: list[Span] = []
        names = find_names(text) if "name" in self.categories else []
        spans.extend(names)
        if "email" in self.categories:
            spans.extend(find_emails(text, names))
        if "phone" in self.categories or "card" in self.categories:
            spans.extend(find_numbers(text, "phone" in self.categories, "card" in self.categories))
        return _resolve(_absorb(spans, _safety_net(text, self.categories)))

    def redact_text(self, text: str) -> str:
        """`text` with every PII span replaced by its [REDACTED_X] placeholder."""
        return _apply(text, self.find(text))


def _apply(text: str, spans: Iterable[Span], lo: int = 0, hi: int | None = None) -> str:
    """Replace spans (clipped to [lo, hi)) inside text[lo:hi] with their placeholders.

    Where a span is cut by the window (a number running into the next segment) the separators at the cut
    stay, so " 123 4567" in the second segment becomes " [REDACTED_PHONE]", keeping the leading space.
    """
    hi = len(text) if hi is None else hi
    out: list[str] = []
    pos = lo
    for sp in spans:
        s, e = max(sp.start, lo), min(sp.end, hi)
        if s > sp.start:
            while s < e and not text[s].isalnum():
                s += 1
        if e < sp.end:
            while e > s and not text[e - 1].isalnum():
                e -= 1
        if e <= s:
            continue
        out.append(text[pos:s])
        out.append(PLACEHOLDERS[sp.category])
        pos = e
    out.append(text[pos:hi])
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Transcript level
# --------------------------------------------------------------------------------------------------


def _redact_words(words: list[Word], spans: list[Span], offsets: list[tuple[int, int]], text: str) -> list[Word]:
    """Merge the words touched by one span into a single placeholder word that keeps their outer timings."""
    out: list[Word] = []
    i = 0
    n = len(words)
    while i < n:
        ws, we = offsets[i]
        hit = [sp for sp in spans if sp.start < we and ws < sp.end]
        if not hit:
            out.append(replace(words[i]))
            i += 1
            continue
        j = i
        group_end = max(sp.end for sp in hit)
        while j + 1 < n and offsets[j + 1][0] < group_end:
            j += 1
            more = [sp for sp in spans if sp.start < offsets[j][1] and offsets[j][0] < sp.end]
            if more:
                group_end = max(group_end, max(sp.end for sp in more))
        lo, hi = offsets[i][0], offsets[j][1]
        inner = [sp for sp in spans if sp.start < hi and lo < sp.end]
        new_text = _apply(text, inner, lo, hi)
        first, last = words[i], words[j]
        prob = min(w.probability for w in words[i : j + 1])
        out.append(replace(first, word=new_text, start=first.start, end=last.end, probability=prob))
        i = j + 1
    return out


def redact_transcript(transcript: Transcript, categories: Iterable[str]) -> Transcript:
    """A new Transcript with PII replaced in every segment's text and word list.

    Detection runs once over the concatenated segment texts so a phone number split across two segments is
    still one match; each segment then gets the parts of the spans that fall inside it. Token ids are dropped
    because they would still decode to the original words.
    """
    redactor = Redactor(categories)
    segs = transcript.segments
    full = "".join(s.text for s in segs)
    spans = redactor.find(full)

    # Word texts normally concatenate to the segment text; if not, detect on the words' own text.
    word_text_parts: list[str] = []
    word_offsets: list[tuple[int, int]] = []
    pos = 0
    for seg in segs:
        for w in seg.words:
            # A word without a leading space continues the previous one when it starts with punctuation
            # (".example", "'s"); between two alphanumeric ends a space keeps the words apart.
            if word_text_parts and w.word and w.word[0].isalnum() and word_text_parts[-1][-1:].isalnum():
                word_text_parts.append(" ")
                pos += 1
            word_text_parts.append(w.word)
            word_offsets.append((pos, pos + len(w.word)))
            pos += len(w.word)
    words_full = "".join(word_text_parts)
    same = all("".join(w.word for w in s.words) == s.text for s in segs)
    word_spans = spans if same and words_full == full else redactor.find(words_full)

    new_segs: list[Segment] = []
    seg_pos = 0
    k = 0
    for seg in segs:
        lo, hi = seg_pos, seg_pos + len(seg.text)
        seg_spans = [sp for sp in spans if sp.start < hi and lo < sp.end]
        text = _apply(full, seg_spans, lo, hi) if seg_spans else seg.text
        nw = len(seg.words)
        offs = word_offsets[k : k + nw]
        k += nw
        if seg.words:
            w_lo, w_hi = offs[0][0], offs[-1][1]
            w_spans = [sp for sp in word_spans if sp.start < w_hi and w_lo < sp.end]
            words = _redact_words(seg.words, w_spans, offs, words_full)
        else:
            words = []
        tokens = [] if seg_spans else list(seg.tokens)
        new_segs.append(replace(seg, text=text, words=words, tokens=tokens))
        seg_pos = hi
    if spans:
        counts: dict[str, int] = {}
        for sp in spans:
            counts[sp.category] = counts.get(sp.category, 0) + 1
        log.debug("redacted %s", ", ".join(f"{c}={n}" for c, n in sorted(counts.items())))
    return replace(transcript, segments=new_segs)
