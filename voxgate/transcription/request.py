"""Request fields for what hosted speech APIs add to transcription: diarization and PII redaction."""

from __future__ import annotations

import numpy as np

from voxgate.api.errors import bad_request
from voxgate.api.fields import Fields
from voxgate.api.uploads import decode_base64_audio
from voxgate.asr.enrich import Enrichment
from voxgate.audio.decode import TARGET_RATE, AudioDecodeError, decode_audio

MAX_KNOWN_SPEAKERS = 4
REFERENCE_SECONDS = (2.0, 10.0)


def _known_speakers(fields: Fields) -> dict[str, np.ndarray]:
    """known_speaker_names[] with known_speaker_references[] (data URLs of 2-10 s clips), same order."""
    names = [n.strip() for n in fields.values.get("known_speaker_names", []) if str(n).strip()]
    refs = [str(r) for r in fields.values.get("known_speaker_references", [])]
    if not names and not refs:
        return {}
    if len(names) != len(refs):
        raise bad_request(f"known_speaker_names has {len(names)} entries but known_speaker_references has "
                          f"{len(refs)}: give one reference clip per name", param="known_speaker_references")
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise bad_request(f"at most {MAX_KNOWN_SPEAKERS} known speakers", param="known_speaker_names")
    if len(set(names)) != len(names):
        raise bad_request("known_speaker_names must be distinct", param="known_speaker_names")
    speakers: dict[str, np.ndarray] = {}
    for i, (name, ref) in enumerate(zip(names, refs)):
        param = f"known_speaker_references[{i}]"
        try:
            audio = decode_audio(decode_base64_audio(ref, param))
        except AudioDecodeError as exc:
            raise bad_request(f"{param}: {exc}", param="known_speaker_references") from None
        seconds = len(audio) / TARGET_RATE
        low, high = REFERENCE_SECONDS
        if not low <= seconds <= high + 0.05:
            raise bad_request(f"{param} is {seconds:.1f} s long; reference clips must be {low:g}-{high:g} s",
                              param="known_speaker_references")
        speakers[str(name)] = audio
    return speakers


def _redact(fields: Fields) -> frozenset[str] | None:
    from voxgate.asr.redact import parse_categories

    values = fields.values.get("redact", [])
    if not values:
        return None
    # Fields already flattens JSON lists and repeated `redact[]` parts into `values`.
    value: bool | str | list[str] = values[0] if len(values) == 1 and isinstance(values[0], bool) \
        else str(values[0]) if len(values) == 1 else [str(v) for v in values]
    try:
        return parse_categories(value)
    except ValueError as exc:
        raise bad_request(str(exc), param="redact") from None


def parse_enrichment(fields: Fields, response_format: str) -> Enrichment:
    """diarize (or diarized_json, or known speakers) and redact, validated; 400s name the field."""
    known = _known_speakers(fields)
    diarize = fields.bool("diarize") or response_format == "diarized_json" or bool(known)
    min_speakers = fields.int("min_speakers", 1, 20)
    max_speakers = fields.int("max_speakers", 1, 20)
    if min_speakers and max_speakers and min_speakers > max_speakers:
        raise bad_request("min_speakers must not exceed max_speakers", param="min_speakers")
    return Enrichment(diarize=diarize, min_speakers=min_speakers, max_speakers=max_speakers,
                      known_speakers=known, redact=_redact(fields))
