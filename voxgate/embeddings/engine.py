"""One embedding model per process, shared: texts from every request are tokenised, then encoded together in
length-sorted batches by one worker thread, so eight clients cost about what one batch of their texts does."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from voxgate.embeddings.bert import BertEncoder
from voxgate.models.catalog import ModelSpec

BATCH = 32  # texts encoded at once (padding to the longest in a batch: sorted by length first)
LINGER_S = 0.002  # how long the worker waits for other requests' texts before it starts a batch


class EmbeddingEngine:
    def __init__(self, spec: ModelSpec, encoder: BertEncoder, tokenizer: Tokenizer, max_tokens: int) -> None:
        self.spec = spec
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self._pending: list[tuple[list[int], Future[np.ndarray]]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._work, name=f"voxgate-embed-{spec.id}", daemon=True).start()

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> EmbeddingEngine:
        config = path / "sentence_bert_config.json"
        max_tokens = int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        return cls(spec, BertEncoder.load(path), tokenizer, max_tokens)

    @property
    def dimensions(self) -> int:
        return self.encoder.dimensions

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """WordPiece ids with [CLS] and [SEP], cut at the model's `max_seq_length` (sentence-transformers does
        the same: the tokens past it do not reach the model)."""
        return [list(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def embed(self, ids: list[list[int]]) -> np.ndarray:
        """(len(ids), dimensions) unit vectors, in order (blocking: it waits for the batch worker)."""
        futures: list[Future[np.ndarray]] = []
        with self._cond:
            for item in ids:
                future: Future[np.ndarray] = Future()
                self._pending.append((item, future))
                futures.append(future)
            self._cond.notify()
        return np.stack([f.result() for f in futures])

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            time.sleep(LINGER_S)  # let the other requests arriving now join this round
            with self._cond:
                round_, self._pending = self._pending, []
            round_.sort(key=lambda item: len(item[0]))
            for start in range(0, len(round_), BATCH):
                batch = round_[start:start + BATCH]
                try:
                    vectors = self._encode([ids for ids, _ in batch])
                except BaseException as exc:  # a failed batch fails its requests, never the worker
                    for _, future in batch:
                        future.set_exception(exc)
                    continue
                for (_, future), vector in zip(batch, vectors):
                    future.set_result(vector)

    def _encode(self, batch: list[list[int]]) -> np.ndarray:
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for i, row in enumerate(batch):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        return self.encoder.embed(ids, mask)
