"""The embeddings use case, free of HTTP: check the request (bounded: items, characters, tokens), tokenise,
embed, and shape OpenAI's answer (float lists, or base64 of little-endian float32 as the SDK asks by default)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from voxgate.embeddings.engine import EmbeddingEngine
from voxgate.errors import bad_request
from voxgate.models.catalog import Catalog, ModelSpec
from voxgate.models.registry import ModelRegistry
from voxgate.models.stats import InferenceCounter

FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


@dataclass(frozen=True)
class EmbeddingLimits:
    max_items: int = 512
    max_item_chars: int = 20_000
    max_tokens: int = 32_768  # WordPiece tokens in one request, after each item's truncation


@dataclass(frozen=True)
class EmbeddingJob:
    """A checked request: the model, its texts' token ids, and the answer's format."""

    spec: ModelSpec
    ids: list[list[int]]
    encoding_format: str

    @property
    def tokens(self) -> int:
        return sum(len(i) for i in self.ids)


def _texts(value: Any, limits: EmbeddingLimits) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise bad_request("'input' must be a string or a non-empty array of strings", param="input",
                          code="invalid_type")
    if len(items) > limits.max_items:
        raise bad_request(f"{len(items)} inputs; the limit is {limits.max_items} per request", param="input",
                          code="too_many_inputs")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise bad_request(f"input[{i}] is not a string: this server embeds text (token arrays are not "
                              "accepted)", param="input", code="invalid_type")
        if not item.strip():
            raise bad_request(f"input[{i}] is empty", param="input", code="empty_input")
        if len(item) > limits.max_item_chars:
            raise bad_request(f"input[{i}] is {len(item)} characters; the limit is {limits.max_item_chars}",
                              param="input", code="input_too_long")
    return items


class EmbeddingService:
    def __init__(self, catalog: Catalog, registry: ModelRegistry, limits: EmbeddingLimits) -> None:
        self.catalog = catalog
        self.registry = registry
        self.limits = limits
        self.inferences = InferenceCounter()

    def engine(self, spec: ModelSpec) -> EmbeddingEngine:
        return self.registry.get(spec, EmbeddingEngine.load)

    def prepare(self, model: str | None, body: dict[str, Any]) -> EmbeddingJob:
        """Check and tokenise (blocking: loads the model on first use); APIError names the field."""
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise bad_request(f"unknown parameter {unknown[0]!r}", param=unknown[0], code="unknown_parameter")
        spec = self.catalog.require(model, "embedding")
        texts = _texts(body.get("input"), self.limits)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise bad_request("'encoding_format' must be float or base64", param="encoding_format")
        engine = self.engine(spec)
        dimensions = body.get("dimensions")
        if dimensions is not None and dimensions != engine.dimensions:
            raise bad_request(f"model {spec.id!r} gives {engine.dimensions}-dimensional vectors and cannot be "
                              f"shortened (it is not a Matryoshka model)", param="dimensions",
                              code="unsupported_value")
        ids = engine.tokenize(texts)
        tokens = sum(len(i) for i in ids)
        if tokens > self.limits.max_tokens:
            raise bad_request(f"the inputs hold {tokens} tokens; the limit is {self.limits.max_tokens} per request",
                              param="input", code="too_many_tokens")
        return EmbeddingJob(spec, ids, encoding)

    def check_remote(self, body: dict[str, Any]) -> int:
        """Bound a request an upstream will embed (it may take token arrays and `dimensions`: its call) and
        estimate its tokens for the credit hold, about four characters each."""
        value = body.get("input")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise bad_request("'input' must be a string or a non-empty array", param="input", code="invalid_type")
        if len(items) > self.limits.max_items:
            raise bad_request(f"{len(items)} inputs; the limit is {self.limits.max_items} per request",
                              param="input", code="too_many_inputs")
        size = 0
        for i, item in enumerate(items):
            if isinstance(item, str):
                length = len(item)
            elif isinstance(item, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in item):
                length = 4 * len(item)
            else:
                raise bad_request(f"input[{i}] must be a string or an array of token ids", param="input",
                                  code="invalid_type")
            if length > self.limits.max_item_chars:
                raise bad_request(f"input[{i}] is too long; the limit is {self.limits.max_item_chars} characters",
                                  param="input", code="input_too_long")
            size += length
        return size // 4 + len(items)

    def run(self, job: EmbeddingJob) -> dict[str, Any]:
        """The `list` of `embedding` objects (blocking)."""
        self.inferences.add(job.spec.id)
        vectors = self.engine(job.spec).embed(job.ids)
        data = []
        for i, vector in enumerate(vectors):
            embedding: Any = (base64.b64encode(vector.astype("<f4").tobytes()).decode()
                              if job.encoding_format == "base64" else [float(x) for x in vector])
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        return {"object": "list", "data": data, "model": job.spec.id,
                "usage": {"prompt_tokens": job.tokens, "total_tokens": job.tokens}}
