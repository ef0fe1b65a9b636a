"""The transcription use case, free of HTTP: shared by the API routes, async jobs and the CLI.

`request` validates what a client asked for into a `TranscriptionRequest` (typed, serialisable);
`service` runs it (decode, ASR, diarize, redact); `enrich` applies speakers and redaction, also while
streaming; `formats` renders every response_format; `fields` reads form and JSON fields alike."""

from voxgate.transcription.fields import Fields
from voxgate.transcription.formats import (
                                           ALL_FORMATS,
                                           billable_seconds,
                                           formats_for,
                                           languages,
                                           render,
                                           speaker_letter,
                                           usage,
)
from voxgate.transcription.request import Task, TranscriptionRequest, parse_request
from voxgate.transcription.service import TranscriptionService

__all__ = ["ALL_FORMATS", "Fields", "Task", "TranscriptionRequest", "TranscriptionService", "billable_seconds",
           "formats_for", "languages", "parse_request", "render", "speaker_letter", "usage"]
