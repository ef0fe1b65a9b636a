"""Email detection: written addresses (a.b@c.com) and spoken ones as Whisper writes them
("john dot smith at example dot com").

Privacy rule for this module: never log, raise or otherwise emit the text being redacted.
"""

from __future__ import annotations

import re

from voxgate.redact.span import Span

_TLDS = (
    "com net org edu gov mil int info biz io co ai app dev tech online site store shop cloud email xyz tv me "
    "uk us ca de fr es it nl be ch at se no dk fi is pl ru ua cz sk hu ro bg gr pt ie tr il ae sa qa eg ma "
    "ng ke gh za in pk bd lk cn jp kr hk tw sg my id th vn ph au nz br ar mx cl pe ve uy ac eu asia fm ly gg "
    "to cc ws la lt lv ee si hr rs ir iq jo lb kw om bh ng tz ug zm zw et cm sn ci co ec bo py cr pa gt do pr "
    "cu jm tt news blog media agency studio design digital law health travel money mobi pro name"
).split()
_TLD_RE = "|".join(sorted(_TLDS, key=len, reverse=True))

_WRITTEN_EMAIL = re.compile(
    r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
)

_LTOK = r"(?!at\b)(?:[a-z](?:[ ][a-z]){2,}\b|[a-z0-9](?:[a-z0-9_+\-.]*[a-z0-9])?)"  # spelled "f o x" or a word
_LSEP = r"\s+(?:dot|period|underscore|under\s?score|dash|hyphen|minus|plus)\s+"
_AT = r"(?:\s*@\s*|\s+(?:at\s+sign|at)\s+)"
_DTOK = r"(?!at\b|dot\b)[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
_DLABEL = rf"{_DTOK}(?:(?:\s+(?:dash|hyphen)\s+|\s+){_DTOK}){{0,2}}"
_DOT = r"(?:\s+(?:dot|period)\s+|\.)"
_SPOKEN_EMAIL = re.compile(
    rf"(?<![\w.+\-])(?P<local>{_LTOK}(?:{_LSEP}{_LTOK}){{0,5}}(?:\s+\d+)?){_AT}"
    rf"(?P<domain>{_DLABEL}(?:{_DOT}{_DLABEL}){{0,4}}{_DOT}(?:{_TLD_RE}))\b(?![.\-]\w)",
    re.IGNORECASE,
)
# Words that sit before "at" in ordinary speech; as a bare local part they are not an address.
_LOCAL_STOP = set(
    "me us him her them it you i we they this that there here someone anyone everyone look looking looked "
    "arrive arrived arriving stay stayed staying be is was were are am been live lives lived work works worked "
    "meet met meeting available online offline home office him email mail e-mail write reach contact find found "
    "send sent see seen visit visited sign signed log logged the a an and or but so to from with of in on for "
    "up down out over back left right just only also even then".split()
)
_EMAIL_CONTEXT_BEFORE = re.compile(
    r"(?:\be-?mail(?:\s+address)?|\baddress|\busername|\bhandle)(?:'s|\s+is|\s+was|:)?\s+"
    r"(?P<words>(?:[A-Za-z0-9]+\s+){1,3})$",
    re.IGNORECASE,
)
_INITIAL_BEFORE = re.compile(r"(?:^|(?<=\s))(?P<init>[A-Za-z])\s+$")


def find_emails(text: str, names: list[Span]) -> list[Span]:
    """Written addresses, then spoken ones; a spoken local part may grow left over a name or initial."""
    spans = [Span(m.start(), m.end(), "email") for m in _WRITTEN_EMAIL.finditer(text)]
    for m in _SPOKEN_EMAIL.finditer(text):
        local = m.group("local")
        has_sep = bool(re.search(_LSEP, local, re.IGNORECASE)) or bool(re.search(r"[._+\-]|\d", local))
        if not has_sep and local.lower() in _LOCAL_STOP:
            continue
        if "@" in m.group(0) and any(s.start <= m.start() < s.end for s in spans):
            continue
        start = m.start()
        before = text[max(0, start - 80) : start]
        ctx = _EMAIL_CONTEXT_BEFORE.search(before)
        ctx_words = ctx.group("words") if ctx else ""
        words = ctx_words.split()
        if words and all(len(w) == 1 or w.lower() not in _LOCAL_STOP for w in words):
            start -= len(ctx_words)  # "my email is mei ling chen at ..."
        else:
            init = _INITIAL_BEFORE.search(before)
            if init:  # "g rossi at ...": a lone letter before the local part is an initial
                start -= len(init.group(0))
        for n in names:  # "john smith at gmail dot com": the name directly before belongs to the address
            if n.start < start and start - 2 <= n.end <= m.end():
                start = n.start
        spans.append(Span(start, m.end(), "email"))
    return spans
