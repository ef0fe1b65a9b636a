"""Chat completions (issue 13): the embedded model through the official SDK, plain and streamed, metered
in tokens behind the gateway; the proxy to an upstream OpenAI-compatible server (a fake one on loopback)
with its streams, errors and timeouts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import LiveServer, free_port, start_server, stop_server
from tests.fake_upstream import REPLY, FakeUpstream
from tests.test_gateway import inferences, keyed, ledger, new_key

MODEL = "smollm2-135m"  # the small embedded model the tests use; the default is the largest installed
CAPITAL = [{"role": "system", "content": "You answer in one short sentence."},
           {"role": "user", "content": "What is the capital of France?"}]


def settled(server: LiveServer, key_id: str, rows: int) -> list[Any]:
    """The key's ledger once `rows` rows are in: a stream's row is written just after its last byte is read."""
    deadline = time.monotonic() + 10
    while len(found := ledger(server, key_id)) < rows and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_the_embedded_model_answers_through_the_sdk(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=40, temperature=0)  # type: ignore[arg-type]
    assert result.object == "chat.completion" and result.model == MODEL
    choice = result.choices[0]
    assert choice.message.role == "assistant" and "Paris" in (choice.message.content or ""), choice.message.content
    assert choice.finish_reason == "stop"
    usage = result.usage
    assert usage and usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 40
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    cards = {m.id: (m.model_extra or {})["voxgate"] for m in client.models.list().data}
    assert cards[MODEL]["task"] == "chat" and cards[MODEL]["kind"] == "embedded"
    assert cards["smollm2"]["alias_of"] == MODEL


def test_streaming_gives_the_same_answer_chunk_by_chunk(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=40, temperature=0)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=40, temperature=0,  # type: ignore[arg-type]
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 3  # token by token, not one blob
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens  # type: ignore[union-attr]
    quiet = list(client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=5, stream=True))  # type: ignore[arg-type]
    assert all(c.usage is None for c in quiet) and all(c.model == MODEL for c in quiet)  # no usage unasked


def test_max_tokens_stop_and_seed_are_honoured(client: openai.OpenAI) -> None:
    count = [{"role": "user", "content": "Count from one to twenty, separated by commas."}]
    short = client.chat.completions.create(model=MODEL, messages=count, max_completion_tokens=5,  # type: ignore[arg-type]
                                           temperature=0)
    assert short.usage.completion_tokens <= 5 and short.choices[0].finish_reason == "length"  # type: ignore[union-attr]
    stopped = client.chat.completions.create(model=MODEL, messages=count, max_tokens=60, temperature=0,  # type: ignore[arg-type]
                                             stop=["five", "5"])
    content = stopped.choices[0].message.content or ""
    assert stopped.choices[0].finish_reason == "stop" and "five" not in content.lower() and "5" not in content
    hot = {"model": MODEL, "messages": [{"role": "user", "content": "Invent a name for a cat."}], "max_tokens": 12,
           "temperature": 1.2, "seed": 7}
    first = client.chat.completions.create(**hot).choices[0].message.content  # type: ignore[call-overload]
    again = client.chat.completions.create(**hot).choices[0].message.content  # type: ignore[call-overload]
    assert first == again  # the same seed samples the same tokens


def test_bad_chat_requests_get_clear_errors(server: LiveServer) -> None:
    base = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    cases = {
        "no messages": ({**base, "messages": []}, 400, "messages"),
        "bad role": ({**base, "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role"),
        "image part": ({**base, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
                       400, "messages[0].content"),
        "tools": ({**base, "tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
        "logprobs": ({**base, "logprobs": True}, 400, "logprobs"),
        "two choices": ({**base, "n": 2}, 400, "n"),
        "hot": ({**base, "temperature": 5}, 400, "temperature"),
        "stops": ({**base, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        "zero tokens": ({**base, "max_tokens": 0}, 400, "max_tokens"),
        "speech model": ({**base, "model": "tts-1"}, 400, "model"),
        "unknown model": ({**base, "model": "gpt-9"}, 404, "model"),
        "too long": ({**base, "messages": [{"role": "user", "content": "word " * 6000}]}, 400, "messages"),
        "huge": ({**base, "messages": [{"role": "user", "content": "x" * 40000}]}, 400, "messages"),
    }
    before = inferences(server).get(MODEL, 0)
    with server.http() as http:
        for name, (body, status, param) in cases.items():
            r = http.post("/v1/chat/completions", json=body)
            assert r.status_code == status, (name, r.text)
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, (name, error)
        too_long = http.post("/v1/chat/completions", json=cases["too long"][0]).json()["error"]
    assert too_long["code"] == "context_length_exceeded"
    assert inferences(server).get(MODEL, 0) - before <= 2  # only the over-long prompts reached the engine


def test_tokens_are_metered_charged_once_and_refused_without_credits(server: LiveServer) -> None:
    key_id, key = new_key(server, credits=0.0003)  # 600 tokens of smollm2 at 0.0000005 credits
    client = keyed(server, key)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=CAPITAL, max_tokens=20,  # type: ignore[arg-type]
                                                           extra_headers={"Idempotency-Key": "chat-1"})
    result = raw.parse()
    replay = client.chat.completions.with_raw_response.create(model=MODEL, messages=CAPITAL, max_tokens=20,  # type: ignore[arg-type]
                                                              extra_headers={"Idempotency-Key": "chat-1"})
    assert replay.headers["idempotent-replayed"] == "true" and replay.parse().id == result.id
    streamed = list(client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=20, stream=True))  # type: ignore[arg-type]
    assert streamed
    rows = settled(server, key_id, 2)
    assert len(rows) == 2 and {r["unit"] for r in rows} == {"tokens"}
    assert rows[0]["units"] == result.usage.total_tokens  # type: ignore[union-attr]
    assert float(raw.headers["x-credits-used"]) == pytest.approx(result.usage.total_tokens * 0.0000005)  # type: ignore[union-attr]
    # a hold covers the prompt and max_tokens: what is left cannot hold 1,000 tokens
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model=MODEL, messages=CAPITAL, max_tokens=1000)  # type: ignore[arg-type]
    assert err.value.status_code == 402 and err.value.code == "insufficient_credits"
    assert len(ledger(server, key_id)) == 2


def test_a_model_scoped_key_chats_only_with_its_model(server: LiveServer) -> None:
    _, key = new_key(server, pipeline=MODEL)
    client = keyed(server, key)
    with server.http() as http:
        r = http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"messages": CAPITAL, "max_tokens": 10})  # no model: the key's own
    assert r.status_code == 200 and r.json()["model"] == MODEL
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="qwen2.5-coder-1.5b", messages=CAPITAL)  # type: ignore[arg-type]


# -- the proxy to an upstream ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def proxy(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("proxy")
    entries = []
    down = f"http://127.0.0.1:{free_port()}/v1"
    for model_id, upstream_model, base, task in (("hosted", "gpt-up", upstream.base_url, "chat"),
                                                 ("hosted-broken", "broken", upstream.base_url, "chat"),
                                                 ("hosted-picky", "picky", upstream.base_url, "chat"),
                                                 ("hosted-slow", "slow", upstream.base_url, "chat"),
                                                 ("hosted-cut", "cut", upstream.base_url, "chat"),
                                                 ("hosted-down", "gpt-up", down, "chat"),
                                                 ("hosted-emb", "emb-up", upstream.base_url, "embedding"),
                                                 ("hosted-emb-broken", "broken", upstream.base_url, "embedding"),
                                                 ("hosted-img", "img-up", upstream.base_url, "image"),
                                                 ("hosted-img-picky", "picky", upstream.base_url, "image"),
                                                 ("hosted-img-slow", "slow", upstream.base_url, "image")):
        entries.append(f'[[models]]\nid = "{model_id}"\nengine = "openai-compatible"\ntask = "{task}"\n'
                       f'base_url = "{base}"\nupstream_model = "{upstream_model}"\napi_key_env = "FAKE_UPSTREAM_KEY"\n'
                       f'price_per_unit = {0.01 if task == "image" else 0.00001}\n')
    catalog = Path(data / "upstream.toml")
    catalog.write_text("\n".join(entries))
    live = start_server(data / "server", {"VOXGATE_CATALOG": str(catalog), "FAKE_UPSTREAM_KEY": "sk-upstream-secret",
                                          "VOXGATE_LLM_TIMEOUT_S": "2", "VOXGATE_LLM_PRELOAD": "false",
                                          "VOXGATE_LLM_MAX_UPSTREAM_BYTES": "8192"})
    try:
        yield live
    finally:
        stop_server(live)


def test_the_proxy_forwards_and_streams_through(proxy: LiveServer, upstream: FakeUpstream) -> None:
    key_id, key = new_key(proxy, credits=1)
    client = keyed(proxy, key)
    result = client.chat.completions.create(model="hosted", messages=CAPITAL, temperature=0.3, max_tokens=50,  # type: ignore[arg-type]
                                            extra_body={"top_k": 5})
    assert result.choices[0].message.content == "".join(REPLY) and result.model == "hosted"
    assert (client.models.retrieve("hosted").model_extra or {})["voxgate"]["kind"] == "upstream"
    sent = upstream.seen[-1]
    assert sent["authorization"] == "Bearer sk-upstream-secret"  # the operator's key, never the caller's
    assert sent["body"]["model"] == "gpt-up" and sent["body"]["top_k"] == 5 and sent["body"]["max_tokens"] == 50
    started = time.perf_counter()
    arrivals = []
    for chunk in client.chat.completions.create(model="hosted", messages=CAPITAL, stream=True):  # type: ignore[arg-type]
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append((time.perf_counter() - started, chunk.choices[0].delta.content))
    assert [a[1] for a in arrivals] == REPLY
    assert arrivals[-1][0] - arrivals[0][0] > 0.1  # passed through as they came, not buffered to the end
    assert upstream.seen[-1]["body"]["stream_options"] == {"include_usage": True}  # asked for, to meter
    rows = settled(proxy, key_id, 2)
    assert [r["units"] for r in rows] == [11, 11] and {r["model"] for r in rows} == {"hosted"}


def test_upstream_failures_map_to_the_envelope(proxy: LiveServer) -> None:
    client = proxy.client()
    cases = {"hosted-broken": (502, "upstream_error"), "hosted-picky": (400, "upstream_rejected"),
             "hosted-down": (502, "upstream_unavailable"), "hosted-slow": (504, "upstream_timeout")}
    for model, (status, code) in cases.items():
        for stream in (False, True):
            started = time.perf_counter()
            with pytest.raises(openai.APIStatusError) as err:
                response = client.chat.completions.create(model=model, messages=CAPITAL, stream=stream)  # type: ignore[call-overload]
                list(response) if stream else None
            assert (err.value.status_code, err.value.code) == (status, code), (model, stream, err.value)
            assert time.perf_counter() - started < 10  # the 2 s timeout holds
    # a stream that fails after it started: the error arrives in-band and the SDK raises it
    with pytest.raises(openai.APIError) as mid:
        list(client.chat.completions.create(model="hosted-cut", messages=CAPITAL, stream=True))  # type: ignore[arg-type]
    assert "lost the model" in str(mid.value)
    assert httpx.get(f"{proxy.root}/healthz").status_code == 200


def test_the_proxy_serves_embeddings_and_images_too(proxy: LiveServer, upstream: FakeUpstream) -> None:
    key_id, key = new_key(proxy, credits=1)
    client = keyed(proxy, key)
    vectors = client.embeddings.create(model="hosted-emb", input=["one", "two"], encoding_format="float")
    assert [d.embedding for d in vectors.data] == [[0.5] * 4] * 2 and vectors.model == "hosted-emb"
    assert upstream.seen[-1]["body"]["model"] == "emb-up"
    assert upstream.seen[-1]["authorization"] == "Bearer sk-upstream-secret"
    image = client.images.generate(model="hosted-img", prompt="a lighthouse at dusk", n=2,
                                   extra_headers={"Idempotency-Key": "img-1"})
    assert [d.b64_json for d in image.data or []] == ["aW1hZ2U="] * 2
    seen = len(upstream.seen)
    again = client.images.generate(model="hosted-img", prompt="a lighthouse at dusk", n=2,
                                   extra_headers={"Idempotency-Key": "img-1"})
    assert again.data == image.data and len(upstream.seen) == seen  # replayed: the upstream is not asked again
    with proxy.http() as http, http.stream("POST", "/v1/images/generations",
                                           json={"model": "hosted-img", "prompt": "a boat", "stream": True}) as r:
        kinds = [json.loads(line[6:])["type"] for line in r.iter_lines() if line.startswith("data: {")]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    rows = settled(proxy, key_id, 2)
    assert [(r["model"], r["unit"], r["units"]) for r in rows] == [("hosted-emb", "tokens", 6),
                                                                   ("hosted-img", "images", 2)]
    with proxy.http() as http:
        failures = {
            "emb broken": (http.post("/v1/embeddings", json={"model": "hosted-emb-broken", "input": "x"}), 502),
            # 200 vectors are about 14 KB from the fake upstream: past the server's 8 KB bound for one answer
            "emb too big": (http.post("/v1/embeddings", json={"model": "hosted-emb", "input": ["x"] * 200}), 502),
            "img picky": (http.post("/v1/images/generations", json={"model": "hosted-img-picky", "prompt": "x"}),
                          400),
            "img slow": (http.post("/v1/images/generations", json={"model": "hosted-img-slow", "prompt": "x"}), 504),
            "no prompt": (http.post("/v1/images/generations", json={"model": "hosted-img"}), 400),
            "no model": (http.post("/v1/images/generations", json={"prompt": "x"}), 404),
            "chat model": (http.post("/v1/images/generations", json={"model": "hosted", "prompt": "x"}), 400),
        }
    for name, (response, status) in failures.items():
        assert response.status_code == status, (name, response.text)
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}, name
    assert "over 8192 bytes" in failures["emb too big"][0].json()["error"]["message"]
    kinds_listed = {m.id: (m.model_extra or {})["voxgate"] for m in client.models.list().data}
    assert kinds_listed["hosted-img"]["task"] == "image" and kinds_listed["hosted-img"]["kind"] == "upstream"
    assert kinds_listed["hosted-emb"]["task"] == "embedding"


def test_a_scoped_key_lists_only_its_models(proxy: LiveServer) -> None:
    _, key = new_key(proxy, pipeline="hosted")
    listed = {m.id for m in keyed(proxy, key).models.list().data}
    assert listed == {"hosted"}
