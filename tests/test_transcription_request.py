"""The HTTP-free transcription request: form and JSON fields validate into one typed object, which survives
a JSON round trip (what an async job stores) and derives the decoding and enrichment options."""

from __future__ import annotations

import base64
import io
import wave

import numpy as np
import pytest

from voxgate.errors import APIError
from voxgate.models.catalog import Catalog
from voxgate.transcription import Fields, TranscriptionRequest, parse_request


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def wav_data_url(seconds: float) -> str:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        t = np.arange(int(seconds * 16000)) / 16000
        w.writeframes((np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16).tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def test_form_and_json_spellings_give_the_same_request(catalog: Catalog) -> None:
    form = Fields.from_pairs([("model", "whisper-1"), ("response_format", "verbose_json"),
                              ("timestamp_granularities[]", "word"), ("language", "EN"), ("redact[]", "email"),
                              ("redact[]", "phone"), ("chunking_strategy[type]", "server_vad"),
                              ("chunking_strategy[threshold]", "0.6"), ("diarize", "true")])
    body = Fields.from_json({"model": "whisper-1", "response_format": "verbose_json",
                             "timestamp_granularities": ["word"], "language": "en", "redact": ["email", "phone"],
                             "chunking_strategy": {"type": "server_vad", "threshold": 0.6}, "diarize": True})
    a, b = parse_request(form, "transcribe", catalog), parse_request(body, "transcribe", catalog)
    assert a == b
    assert a.model == "whisper-base" and a.language == "en" and a.words and a.diarize
    assert a.redact == frozenset({"email", "phone"}) and a.chunking is not None and a.chunking.threshold == 0.6
    opts = a.decode_options()
    assert opts.word_timestamps and opts.timings and opts.language == "en"


def test_a_request_survives_the_job_store_round_trip(catalog: Catalog) -> None:
    fields = Fields.from_json({"model": "whisper-1", "response_format": "diarized_json",
                               "known_speaker_names": ["Ann"], "known_speaker_references": [wav_data_url(3.0)],
                               "min_speakers": 1, "max_speakers": 3, "prompt": "Ann and Bo", "temperature": 0.2})
    request = parse_request(fields, "transcribe", catalog)
    again = TranscriptionRequest.from_json(request.to_json())
    assert again == request
    enrichment = again.enrichment()
    assert enrichment.diarize and enrichment.max_speakers == 3
    assert enrichment.known_speakers["Ann"].shape == (48000,)
    assert np.allclose(enrichment.known_speakers["Ann"], request.enrichment().known_speakers["Ann"])


@pytest.mark.parametrize("body, param", [
    ({"model": "whisper-1", "response_format": "xml"}, "response_format"),
    ({"model": "whisper-1", "language": "klingon"}, "language"),
    ({"model": "whisper-1", "temperature": "2"}, "temperature"),
    ({"model": "whisper-1", "min_speakers": 3, "max_speakers": 2}, "min_speakers"),
    ({"model": "whisper-1", "redact": ["ssn"]}, "redact"),
    ({"model": "whisper-1", "chunking_strategy": {"type": "semantic"}}, "chunking_strategy"),
    ({"model": "whisper-1", "known_speaker_names": ["A"], "known_speaker_references": [wav_data_url(0.5)]},
     "known_speaker_references"),
    ({"model": "tts-1"}, "model"),
])
def test_each_bad_field_is_named(catalog: Catalog, body: dict[str, object], param: str) -> None:
    with pytest.raises(APIError) as err:
        parse_request(Fields.from_json(body), "transcribe", catalog)
    assert err.value.status == 400 and err.value.param == param


def test_translation_has_no_diarized_json_and_ignores_language(catalog: Catalog) -> None:
    with pytest.raises(APIError):
        parse_request(Fields.from_json({"model": "whisper-1", "response_format": "diarized_json"}), "translate",
                      catalog)
    request = parse_request(Fields.from_json({"model": "whisper-1", "language": "de"}), "translate", catalog)
    assert request.task == "translate" and request.language is None


def test_keywords_bias_the_prompt_and_languages_reach_the_decoder(catalog: Catalog) -> None:
    request = parse_request(Fields.from_pairs([("model", "whisper-1"), ("prompt", "A call about billing."),
                                               ("keywords[]", "Voxgate"), ("keywords[]", "CTranslate2"),
                                               ("languages[]", "German"), ("languages[]", "en")]),
                            "transcribe", catalog)
    opts = request.decode_options()
    assert opts.prompt == "A call about billing. Voxgate, CTranslate2." and opts.languages == ("de", "en")
    bare = parse_request(Fields.from_json({"model": "whisper-1", "keywords": ["Dashwood"]}), "transcribe", catalog)
    assert bare.decode_options().prompt == "Dashwood."
    with pytest.raises(APIError) as err:
        parse_request(Fields.from_json({"model": "whisper-1", "languages": ["en", "xx"]}), "transcribe", catalog)
    assert err.value.param == "languages"


def test_a_language_slot_chooses_among_the_expected_languages() -> None:
    from voxgate.asr.window import LanguageSlot

    ranked = [("fr", 0.5), ("it", 0.3), ("en", 0.2)]
    assert LanguageSlot(None).choose(ranked) == ("fr", 0.5)
    assert LanguageSlot(None, ("en", "it")).choose(ranked) == ("it", 0.3)
    assert LanguageSlot(None, ("de",)).language == "de"
