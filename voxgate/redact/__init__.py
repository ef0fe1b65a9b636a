"""PII detectors behind `voxgate.asr.redact`, one module per job.

* `span`    - the `Span` type every detector returns;
* `emails`  - written and spoken email addresses;
* `numbers` - phone and card numbers (written or spoken digits, Luhn check);
* `names`   - person names: the shared spaCy NER model plus phrase rules.

Import the public API (`Redactor`, `redact_transcript`, ...) from `voxgate.asr.redact`. Nothing here is
imported eagerly, so importing this package does not load spaCy.

Privacy rule for these modules: never log, raise or otherwise emit the text being redacted.
"""
