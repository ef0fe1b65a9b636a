"""Property-based requests generated from the served /openapi.json (schemathesis, loopback only): whatever
fits the schema, and whatever schemathesis makes of it, is never a 5xx and always answered in bounded time."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.conftest import LiveServer, start_server, stop_server

EXAMPLES = 20  # per operation and mode (valid, then invalid data): bounded, the run takes under a minute


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("schemathesis"), {"VOXGATE_MAX_SPEECH_INPUT_CHARS": "400",
                                                                  "VOXGATE_LLM_MAX_TOKENS": "8"})
    try:
        yield live
    finally:
        stop_server(live)


def test_generated_requests_never_get_a_5xx(fuzzed_server: LiveServer) -> None:
    deadline = time.monotonic() + 120
    while httpx.get(f"{fuzzed_server.root}/readyz").status_code != 200:  # a 503 while loading is by design
        assert time.monotonic() < deadline, "the models did not load"
        time.sleep(0.5)
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.root}/openapi.json")
    headers = {"authorization": f"Bearer {fuzzed_server.key}"}
    tried: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, list(schemathesis.GenerationMode)):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers, timeout=60)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
            if response.status_code >= 400:
                error = response.json().get("error")
                assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}, \
                    (case.method, case.path, response.text[:300])

        try:
            check()
        except Unsatisfiable:  # no invalid request exists for an operation without parameters
            assert mode is schemathesis.GenerationMode.NEGATIVE
            continue
        tried.append(f"{mode.value} {operation.method.upper()} {operation.path}")
    assert len(tried) >= 30, tried
