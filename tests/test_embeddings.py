"""Embeddings (issue 17, first part): all-MiniLM-L6-v2 through the official SDK gives the model's vectors,
batched across concurrent requests without changing them, metered in tokens; bad input gets clear 400s."""

from __future__ import annotations

import base64
import threading

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import LiveServer
from tests.test_gateway import inferences, keyed, ledger, new_key
from voxgate.embeddings.engine import EmbeddingEngine
from voxgate.models.catalog import Catalog

MODEL = "all-minilm-l6-v2"
# sentence-transformers' all-MiniLM-L6-v2 on this sentence (its documentation's example), first four values;
# the numpy encoder here matched transformers' BertModel on the same weights to 2e-7
EXAMPLE = ("This is an example sentence", [0.06765694, 0.06349596, 0.04871311, 0.07930497])
SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome.",
             "A cheetah is running behind its prey.", "Two men pushed carts through the woods. " * 30]


@pytest.fixture(scope="module")
def local() -> EmbeddingEngine:
    spec = Catalog.load().resolve(MODEL)
    assert spec is not None
    return EmbeddingEngine.load(spec, spec.path)


def test_the_sdk_gets_the_models_vectors(client: openai.OpenAI, local: EmbeddingEngine) -> None:
    known = client.embeddings.create(model=MODEL, input=EXAMPLE[0])  # the SDK asks for base64 and decodes it
    assert known.model == MODEL and known.object == "list" and len(known.data[0].embedding) == 384
    np.testing.assert_allclose(known.data[0].embedding[:4], EXAMPLE[1], atol=1e-5)
    batch = client.embeddings.create(model=MODEL, input=SENTENCES, encoding_format="float")
    vectors = np.array([d.embedding for d in batch.data])
    assert [d.index for d in batch.data] == list(range(len(SENTENCES)))
    mine = local.embed(local.tokenize(SENTENCES))
    assert min(float(a @ b) for a, b in zip(vectors, mine)) > 0.999  # in-process, one at a time, the same
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.3, (similar, unrelated)
    assert batch.usage.prompt_tokens == batch.usage.total_tokens == sum(len(i) for i in local.tokenize(SENTENCES))


def test_concurrent_requests_are_batched_without_changing_vectors(server: LiveServer, local: EmbeddingEngine) -> None:
    texts = [f"Sentence number {i} is about {word}." for i, word in enumerate(
        ["rivers", "trains", "music", "bread", "winter", "chess", "rain", "gardens"])]
    results: dict[int, np.ndarray] = {}

    def one(i: int) -> None:
        with server.http() as http:
            body = http.post("/v1/embeddings", json={"model": MODEL, "input": [texts[i], texts[i][::-1]],
                                                     "encoding_format": "base64"}).json()
        results[i] = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = local.embed(local.tokenize(texts))
    assert min(float(results[i] @ expected[i]) for i in range(len(texts))) > 0.9999


def test_tokens_are_metered(server: LiveServer) -> None:
    key_id, key = new_key(server, credits=1)
    result = keyed(server, key).embeddings.create(model="minilm", input=["one sentence", "and another one"])
    rows = ledger(server, key_id)
    assert len(rows) == 1 and rows[0]["unit"] == "tokens" and rows[0]["units"] == result.usage.total_tokens
    assert rows[0]["model"] == MODEL


def test_bad_embedding_requests_get_clear_errors(server: LiveServer) -> None:
    cases = {
        "empty list": ({"input": []}, 400),
        "empty string": ({"input": ["fine", " "]}, 400),
        "token arrays": ({"input": [[1, 2, 3]]}, 400),
        "numbers": ({"input": 42}, 400),
        "too many": ({"input": ["x"] * 513}, 400),
        "too long": ({"input": "word " * 5000}, 400),
        "dimensions": ({"input": "hi", "dimensions": 128}, 400),
        "format": ({"input": "hi", "encoding_format": "int8"}, 400),
        "unknown field": ({"input": "hi", "truncate": "end"}, 400),
        "chat model": ({"input": "hi", "model": "smollm2"}, 400),
        "unknown model": ({"input": "hi", "model": "text-embedding-9"}, 404),
    }
    before = inferences(server).get(MODEL, 0)
    with server.http() as http:
        for name, (body, status) in cases.items():
            r = http.post("/v1/embeddings", json={"model": MODEL, **body})
            assert r.status_code == status, (name, r.text)
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}, (name, r.text)
    assert inferences(server).get(MODEL, 0) == before
    assert httpx.get(f"{server.root}/healthz").status_code == 200


def test_the_voxgate_sdk_embeds(server: LiveServer) -> None:
    from voxgate import Client

    with Client(api_key=server.key, base_url=server.base_url) as sdk:
        floats = sdk.embeddings.create(model=MODEL, input=EXAMPLE[0])
        packed = sdk.embeddings.create(model=MODEL, input=[EXAMPLE[0]], encoding_format="base64")
    np.testing.assert_allclose(floats.data[0].embedding[:4], EXAMPLE[1], atol=1e-5)
    np.testing.assert_allclose(packed.data[0].embedding, floats.data[0].embedding, atol=1e-6)
    assert floats.usage is not None and floats.usage.total_tokens == 7
