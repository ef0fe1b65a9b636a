"""The Responses API (issue 17) on the embedded chat model through the official SDK: plain and streamed, a
conversation continued by previous_response_id, cut by max_output_tokens, metered, and bad input refused."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.test_chat import settled
from tests.test_gateway import keyed, new_key

MODEL = "smollm2-135m"
ASK = {"model": MODEL, "input": "What is the capital of France?", "instructions": "Answer in one short sentence.",
       "temperature": 0, "max_output_tokens": 40}


def test_a_response_through_the_sdk(client: openai.OpenAI) -> None:
    response = client.responses.create(**ASK)  # type: ignore[call-overload]
    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.model == MODEL and "Paris" in response.output_text, response.output_text
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    usage = response.usage
    assert usage and usage.input_tokens > 10 and 0 < usage.output_tokens <= 40
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_a_streamed_response_has_the_responses_events(client: openai.OpenAI) -> None:
    plain = client.responses.create(**ASK)  # type: ignore[call-overload]
    events = list(client.responses.create(**ASK, stream=True))  # type: ignore[call-overload]
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) >= 3 and "".join(deltas) == plain.output_text  # token by token, the same answer
    done = events[-1].response  # type: ignore[union-attr]
    assert done.output_text == plain.output_text and done.usage.output_tokens == plain.usage.output_tokens  # type: ignore[union-attr]


def test_previous_response_id_continues_the_conversation(server: LiveServer, client: openai.OpenAI) -> None:
    first = client.responses.create(model=MODEL, input="My name is Alice. Say hello to me.", temperature=0,
                                    max_output_tokens=20)
    second = client.responses.create(model=MODEL, input="What is my name?", previous_response_id=first.id,
                                     temperature=0, max_output_tokens=20)
    assert second.previous_response_id == first.id
    assert second.usage and first.usage and second.usage.input_tokens > first.usage.total_tokens  # type: ignore[union-attr]
    _, other = new_key(server)
    with pytest.raises(openai.NotFoundError):  # another key's responses are not found
        keyed(server, other).responses.create(model=MODEL, input="And mine?", previous_response_id=first.id)
    unstored = client.responses.create(model=MODEL, input="Hi", store=False, max_output_tokens=5)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=MODEL, input="Again", previous_response_id=unstored.id)


def test_max_output_tokens_makes_it_incomplete_and_tokens_are_metered(server: LiveServer) -> None:
    key_id, key = new_key(server, credits=1)
    cut = keyed(server, key).responses.create(model=MODEL, input="Count from one to fifty.", max_output_tokens=5,
                                              temperature=0)  # sampled, a reply might end within five tokens
    assert cut.status == "incomplete"
    assert cut.incomplete_details and cut.incomplete_details.reason == "max_output_tokens"
    rows = settled(server, key_id, 1)
    assert len(rows) == 1 and rows[0]["unit"] == "tokens" and rows[0]["units"] == cut.usage.total_tokens  # type: ignore[union-attr]


def test_bad_responses_requests_get_clear_errors(server: LiveServer) -> None:
    cases = {
        "empty": ({"input": ""}, 400, "input"),
        "empty list": ({"input": []}, 400, "input"),
        "function call": ({"input": [{"type": "function_call", "name": "f"}]}, 400, "input"),
        "image": ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}, 400, "input"),
        "tools": ({"input": "hi", "tools": [{"type": "web_search"}]}, 400, "tools"),
        "reasoning": ({"input": "hi", "reasoning": {"effort": "low"}}, 400, "reasoning"),
        "tokens": ({"input": "hi", "max_output_tokens": 0}, 400, "max_output_tokens"),
        "previous": ({"input": "hi", "previous_response_id": "resp_nope"}, 404, "previous_response_id"),
        "model": ({"input": "hi", "model": "tts-1"}, 400, "model"),
    }
    with server.http() as http:
        for name, (body, status, param) in cases.items():
            r = http.post("/v1/responses", json={"model": MODEL, **body})
            assert r.status_code == status and r.json()["error"]["param"] == param, (name, r.text)
    assert httpx.get(f"{server.root}/healthz").status_code == 200


def test_the_voxgate_sdk_creates_responses(server: LiveServer) -> None:
    from voxgate import AsyncClient, Client
    from voxgate.sdk.types import Response, ResponseEvent

    with Client(api_key=server.key, base_url=server.base_url, timeout=120) as sdk:
        plain = sdk.responses.create(**ASK)
        events = list(sdk.responses.create(**ASK, stream=True))
    assert isinstance(plain, Response) and "Paris" in plain.output_text
    assert all(isinstance(e, ResponseEvent) for e in events) and events[-1].type == "response.completed"
    assert "".join(e.delta or "" for e in events if e.type == "response.output_text.delta") == plain.output_text
    assert events[-1].response is not None and events[-1].response.output_text == plain.output_text

    async def run() -> Response:
        async with AsyncClient(api_key=server.key, base_url=server.base_url, timeout=120) as client:
            result: Response = await client.responses.create(**ASK)
            return result

    import asyncio

    assert asyncio.run(run()).output_text == plain.output_text
