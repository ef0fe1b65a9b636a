"""Phone and card number detection: written digit groups and spoken digits ("five five five ..."),
joined into runs, classified by length, grouping, context words and the Luhn check.

Privacy rule for this module: never log, raise or otherwise emit the text being redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from voxgate.redact.span import Span


def luhn_valid(digits: str) -> bool:
    """Standard mod-10 check used by every major card brand."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# --------------------------------------------------------------------------------------------------
# Phone and card numbers: tokens carrying digits (written "555" or spoken "five"), joined into runs.
# --------------------------------------------------------------------------------------------------

_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
_TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7", "eighty": "8",
    "ninety": "9",
}  # fmt: skip
_UNIT_RE = "zero|oh|one|two|three|four|five|six|seven|eight|nine|o(?![’'])"
_SPOKEN_NUM = re.compile(
    rf"\b(?:"
    rf"(?P<rep>double|triple)[\s\-]+(?P<repd>{_UNIT_RE})"
    rf"|(?P<hund>one|two|three|four|five|six|seven|eight|nine)[\s\-]+hundred"
    rf"|(?P<tens>{'|'.join(_TENS)})(?:[\s\-]+(?P<tu>one|two|three|four|five|six|seven|eight|nine))?"
    rf"|(?P<teen>{'|'.join(_TEENS)})"
    rf"|(?P<unit>{_UNIT_RE})"
    rf")\b",
    re.IGNORECASE,
)
_WRITTEN_NUM = re.compile(r"(?<![A-Za-z\d])\d+(?![A-Za-z\d])")
# Plain quantities: money, thousands separators, decimals, percentages. They never join a phone/card run.
_PLAIN_NUMBER = re.compile(
    r"[$€£¥₹]\s?\d[\d,]*(?:\.\d+)?"
    r"|(?<![\d,.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)"
    r"|(?<![\d.])\d+\.\d+(?!\d|\.\d)"
    r"|(?<![\d.])\d+(?:\.\d+)?\s?(?:%|percent\b|per\s+cent\b)"
)
_PLUS_BEFORE = re.compile(r"(?:\+\s?|\bplus\s+)$", re.IGNORECASE)
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|telephone|tel|call|calling|called|number|numbers|no\.|cell|cellphone|mobile|text|texting|"
    r"sms|dial|fax|ring|reach|reached|contact|whatsapp|landline|line|hotline|extension|ext|area\s+code|"
    r"voicemail|get\s+me\s+on)\b",
    re.IGNORECASE,
)
# A label directly in front of the number ("order number 4400...", "meeting ID is 845 ...") says it is not a
# phone. Anchored at the number so that "text the code to 07911 ..." still reads as a phone.
_NOT_PHONE_CONTEXT = re.compile(
    r"\b(?:order|invoice|tracking|reference|ref|confirmation|ticket|case|flight|serial|part|model|id|passcode|"
    r"password|pin|code|isbn|issn|zip|postal|postcode|room|page|version|sku|item|policy|account|routing|iban|"
    r"meeting|batch|lot|receipt|transaction|vin|license|licence|patent|member|membership|customer|student|"
    r"employee|badge)\b(?:\s+(?:number|no\.?|#|id|code))?\s*(?:is|was|:|#|=)?\s*$",
    re.IGNORECASE,
)
_FILLER_GAP = re.compile(r"[\s,.\-–]*(?:\b(?:then|uh|um|er|erm|ah)\b[\s,.\-–]*)?", re.IGNORECASE)
# Between written groups only phone-style separators; a comma means a list ("120, 340, 5600"), not a number.
_WRITTEN_GAP = re.compile(r"(?: ?[\-–.] ?| ?\(| ?\) ?-? ?| {1,2}|\t)")


@dataclass
class _NumTok:
    """One digit-bearing token: `digits` it stands for, where it is, whether it was spelled out."""

    start: int
    end: int
    digits: str
    spoken: bool
    is_oh: bool = False


def _number_tokens(text: str) -> list[_NumTok]:
    """Written digit groups and spoken digit words, in text order, minus plain quantities."""
    blocked = [False] * (len(text) + 1)
    for m in _PLAIN_NUMBER.finditer(text):
        for i in range(m.start(), m.end()):
            blocked[i] = True

    def is_blocked(a: int, b: int) -> bool:
        """Whether the token [a, b) starts or ends inside a plain quantity."""
        return blocked[a] or blocked[b - 1]

    toks: list[_NumTok] = []
    for m in _WRITTEN_NUM.finditer(text):
        if not is_blocked(m.start(), m.end()):
            toks.append(_NumTok(m.start(), m.end(), m.group(0), spoken=False))
    for m in _SPOKEN_NUM.finditer(text):
        g = m.groupdict()
        if g["rep"]:
            d = _UNITS[g["repd"].lower()] * (2 if g["rep"].lower() == "double" else 3)
        elif g["hund"]:
            d = _UNITS[g["hund"].lower()] + "00"
        elif g["tens"]:
            d = _TENS[g["tens"].lower()] + (_UNITS[g["tu"].lower()] if g["tu"] else "0")
        elif g["teen"]:
            d = _TEENS[g["teen"].lower()]
        else:
            d = _UNITS[g["unit"].lower()]
        is_oh = bool(g["unit"]) and g["unit"].lower() in ("oh", "o")
        toks.append(_NumTok(m.start(), m.end(), d, spoken=True, is_oh=is_oh))
    toks.sort(key=lambda t: t.start)
    # "oh"/"o" only count as zero when they sit right next to another digit word (not "Oh, five ...").
    keep: list[_NumTok] = []
    for i, t in enumerate(toks):
        if t.is_oh:
            prev_ok = i > 0 and toks[i - 1].spoken and re.fullmatch(r"[ \-]+", text[toks[i - 1].end : t.start])
            next_ok = (
                i + 1 < len(toks)
                and toks[i + 1].spoken
                and re.fullmatch(r"[ \-]+", text[t.end : toks[i + 1].start])
            )
            if not (prev_ok or next_ok):
                continue
        keep.append(t)
    return keep


def _joinable(text: str, a: _NumTok, b: _NumTok) -> bool:
    """Whether two digit tokens belong to the same spoken/written number (only separators between)."""
    gap = text[a.end : b.start]
    if len(gap) > 12:
        return False
    if not a.spoken and not b.spoken:
        return bool(_WRITTEN_GAP.fullmatch(gap))
    return bool(_FILLER_GAP.fullmatch(gap))


def _is_cut(text: str, a: _NumTok, b: _NumTok) -> bool:
    """A place where a run may be split: punctuation between, or a written group boundary."""
    gap = text[a.end : b.start]
    if gap.strip():
        return True
    return not a.spoken or not b.spoken


def _context(text: str, start: int) -> str | None:
    """'phone' or 'other' from the closest telling keyword in the words before a number, else None."""
    window = text[max(0, start - 48) : start]
    if _NOT_PHONE_CONTEXT.search(window) and not re.search(r"\barea\s+code\s*(?:is|:)?\s*$", window, re.I):
        return "other"
    return "phone" if _PHONE_CONTEXT.search(window) else None


def _plausible_groups(groups: list[int], digits_start_zero: bool) -> bool:
    """Digit groupings people use for phone numbers: short groups, ending in 3+ digits (or 2-2-2-2-2)."""
    if len(groups) == 1:
        return True
    if len(groups) > 6 or max(groups) > 8:
        return False
    return groups[-1] >= 3 or (digits_start_zero and all(g == 2 for g in groups[1:]))


def _is_counting(toks: list[_NumTok]) -> bool:
    """Whether spoken tokens count up or down by one (1 2 3 4 ..., 10 9 8 ...)."""
    vals = [int(t.digits) for t in toks]
    steps = {b - a for a, b in pairwise(vals)}
    return steps == {1} or steps == {-1}


def _classify(text: str, toks: list[_NumTok], plus: bool, ctx: str | None) -> str | None:
    """'card', 'phone' or None for a candidate run of digit tokens; `ctx` is _context() at its start."""
    digits = "".join(t.digits for t in toks)
    n = len(digits)
    spoken = any(t.spoken for t in toks) or all(len(t.digits) == 1 for t in toks)
    groups = [len(t.digits) for t in toks]
    if len(toks) >= 4 and all(t.spoken for t in toks) and _is_counting(toks):
        return None  # "one, two, three, ... ten" or a countdown, not a number being read out
    if not plus and 13 <= n <= 19 and digits[0] in "23456" and luhn_valid(digits):
        return "card"
    if ctx == "other":
        return None
    if plus:
        ok = 7 <= n <= 15 and (spoken or groups[0] <= 3 or len(groups) == 1)
        return "phone" if ok else None
    shape_ok = spoken or _plausible_groups(groups, digits[0] == "0")
    if not shape_ok:
        return None
    if n == 10 or (n == 11 and digits[0] in "01"):  # NANP with/without trunk 1, UK/EU trunk-0 numbers
        return "phone"
    if 12 <= n <= 14 and digits.startswith("00"):
        return "phone"
    if n == 7:
        if spoken:
            return "phone"
        sep = text[toks[0].end : toks[-1].start] if len(toks) == 2 else ""
        if groups == [3, 4] and sep.strip() in ("-", ".", "–"):
            return "phone"
        return "phone" if ctx == "phone" and groups in ([3, 4], [7]) else None
    if 8 <= n <= 15 and ctx == "phone" and (spoken or len(groups) >= 2 or n <= 12):
        return "phone"
    return None


def find_numbers(text: str, want_phone: bool, want_card: bool) -> list[Span]:
    """Group digit tokens into runs, then pick the longest card/phone sub-runs within each run."""
    toks = _number_tokens(text)
    runs: list[list[_NumTok]] = []
    for t in toks:
        if runs and _joinable(text, runs[-1][-1], t):
            runs[-1].append(t)
        else:
            runs.append([t])
    spans: list[Span] = []
    for run in runs:
        if sum(len(t.digits) for t in run) < 7:
            continue
        cuts = [0] + [i for i in range(1, len(run)) if _is_cut(text, run[i - 1], run[i])] + [len(run)]
        cands: list[tuple[int, int, int, str, bool]] = []
        for ai in range(len(cuts) - 1):
            a = cuts[ai]
            plus_m = _PLUS_BEFORE.search(text[max(0, run[a].start - 6) : run[a].start])
            ctx = _context(text, run[a].start)
            for bi in range(ai + 1, len(cuts)):
                b = cuts[bi]
                sub = run[a:b]
                nd = sum(len(t.digits) for t in sub)
                if nd > 19:
                    break  # longer sub-runs only add digits
                if nd < 7:
                    continue
                cat = _classify(text, sub, bool(plus_m), ctx)
                if cat:
                    cands.append((nd, a, b, cat, bool(plus_m)))
        cands.sort(key=lambda c: (-c[0], 0 if c[3] == "card" else 1, c[1]))
        taken = [False] * len(run)
        for _nd, a, b, cat, has_plus in cands:
            if any(taken[a:b]):
                continue
            taken[a:b] = [True] * (b - a)  # claimed even when not wanted: a card must not be re-read as a phone
            if (cat == "phone" and not want_phone) or (cat == "card" and not want_card):
                continue
            start, end = run[a].start, run[b - 1].end
            if has_plus:
                m = _PLUS_BEFORE.search(text[max(0, start - 6) : start])
                if m:
                    start -= len(m.group(0))
            if start > 0 and text[start - 1] == "(":
                start -= 1
            if end < len(text) and text[end] == ")" and "(" in text[start:end]:
                end += 1
            spans.append(Span(start, end, cat))
    return spans
