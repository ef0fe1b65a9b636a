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
