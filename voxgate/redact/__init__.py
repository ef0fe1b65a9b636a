"""PII redaction for transcripts (`redact=true` on transcription requests).

Finds emails, phone numbers, card numbers and person names in transcript text and replaces them with
`[REDACTED_X]` placeholders, in segment texts and word lists alike. One module per job:

* `span`     - the `Span` type every detector returns;
* `emails`   - written and spoken email addresses;
* `numbers`  - phone and card numbers (written or spoken digits, Luhn check);
* `names`    - person names: the shared spaCy NER model plus phrase rules;
* `redactor` - combines the detectors' spans and applies them to text and transcripts.

Import the public API from this package. spaCy is only imported when names are first searched for (or on
`preload()`), so importing the package stays cheap.

Privacy rule for the whole package: never log, raise or otherwise emit the text being redacted.
"""

from __future__ import annotations

from voxgate.redact.names import get_nlp, preload
from voxgate.redact.numbers import luhn_valid
from voxgate.redact.redactor import CATEGORIES, PLACEHOLDERS, Redactor, parse_categories, redact_transcript
from voxgate.redact.span import Span

__all__ = [
    "CATEGORIES",
    "PLACEHOLDERS",
    "Redactor",
    "Span",
    "get_nlp",
    "luhn_valid",
    "parse_categories",
    "preload",
    "redact_transcript",
]
