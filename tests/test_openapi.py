"""The served /openapi.json (issue 15) is a valid OpenAPI document that says how to authenticate and what errors
look like: unique operation ids, a bearer scheme, the error envelope instead of FastAPI's 422 schema."""

from __future__ import annotations

from collections import Counter

import httpx
from openapi_spec_validator import validate

from tests.conftest import LiveServer


def test_the_spec_validates_and_describes_auth_and_errors(server: LiveServer) -> None:
    spec = httpx.get(f"{server.root}/openapi.json", timeout=30).json()
    validate(spec)
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    ids = Counter(op["operationId"] for _, _, op in operations)
    assert not [i for i, n in ids.items() if n > 1]
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "an API key: `Authorization: Bearer vg_live_...`"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, method, op in operations:
        if path in ("/healthz", "/readyz"):
            assert op["security"] == []
            continue
        assert op["security"] == [{"bearer": []}], path
        assert "422" not in op["responses"] or method == "post"
        for status in ("400", "401", "404", "429"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
    assert {"patch", "post"} <= set(spec["paths"]["/v1/admin/keys/{key_id}"])


def test_hand_read_bodies_and_audio_responses_are_described(server: LiveServer) -> None:
    paths = httpx.get(f"{server.root}/openapi.json", timeout=30).json()["paths"]
    for path in ("/v1/audio/transcriptions", "/v1/audio/translations"):
        op = paths[path]["post"]
        content = op["requestBody"]["content"]
        form = content["multipart/form-data"]["schema"]
        assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
        assert content["application/json"]["schema"]["required"] == ["file_base64"]
        assert {"application/json", "text/plain", "text/event-stream"} <= set(op["responses"]["200"]["content"])
    transcribe = paths["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    assert {"diarize", "redact", "timestamp_granularities[]", "known_speaker_references[]"} <= \
        set(transcribe["multipart/form-data"]["schema"]["properties"])
    assert "diarize" not in paths["/v1/audio/translations"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]
    speech = paths["/v1/audio/speech"]["post"]
    audio = speech["responses"]["200"]["content"]
    assert {"audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/wav", "audio/pcm"} <= set(audio)
    assert audio["audio/mpeg"]["schema"] == {"type": "string", "format": "binary"}
    assert "application/json" in speech["requestBody"]["content"]  # the pydantic body, as before
    run = paths["/v1/pipelines/{pipeline_id}/run"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "file" in run["schema"]["properties"]


def test_docs_and_redoc_load_from_the_server_alone(server: LiveServer) -> None:
    """Every script, style sheet and icon the doc pages name is served here: nothing comes from the internet."""
    import re

    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{server.root}{page}", timeout=30)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "http://" not in html.text and "https://" not in html.text, page
        urls = set(re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text))
        urls |= set(re.findall(r"""url:\s*'([^']+)'""", html.text)) | set(re.findall(r'spec-url="([^"]+)"', html.text))
        assert urls, page
        for url in urls:
            assert url.startswith("/"), (page, url)
            asset = httpx.get(f"{server.root}{url}", timeout=30)
            assert asset.status_code == 200 and len(asset.content) > 100, (page, url)
