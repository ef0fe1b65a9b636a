"""A BERT encoder (MiniLM and kin) on numpy, from the model's safetensors: no PyTorch for 22 M parameters.

The sentence-transformers recipe: WordPiece ids -> embeddings + layer norm -> N post-norm transformer layers
(GELU feed-forward) -> the attention-masked mean of the last hidden states -> L2-normalised."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


@dataclass(frozen=True)
class BertConfig:
    layers: int
    heads: int
    hidden: int
    eps: float

    @classmethod
    def read(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text())
        return cls(layers=int(raw["num_hidden_layers"]), heads=int(raw["num_attention_heads"]),
                   hidden=int(raw["hidden_size"]), eps=float(raw.get("layer_norm_eps", 1e-12)))


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU BERT was trained with."""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class BertEncoder:
    def __init__(self, weights: dict[str, np.ndarray], config: BertConfig) -> None:
        self.config = config
        self.w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}

    @classmethod
    def load(cls, model_dir: Path) -> BertEncoder:
        return cls(load_file(str(model_dir / "model.safetensors")), BertConfig.read(model_dir / "config.json"))

    @property
    def dimensions(self) -> int:
        return self.config.hidden

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, tokens, hidden) for padded `ids` and their 0/1 attention `mask`."""
        c, w = self.config, self.w
        batch, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], c.eps)
        head = c.hidden // c.heads
        bias = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9  # padding gets no attention
        for i in range(c.layers):
            p = f"encoder.layer.{i}"

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, c.heads, head).transpose(0, 2, 1, 3)

            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, c.hidden)
            x = _layer_norm(x + self._linear(context, f"{p}.attention.output.dense"),
                            w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"],
                            c.eps)
            inner = _gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = _layer_norm(x + self._linear(inner, f"{p}.output.dense"), w[f"{p}.output.LayerNorm.weight"],
                            w[f"{p}.output.LayerNorm.bias"], c.eps)
        return x

    def embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, hidden) unit vectors: the masked mean of the last hidden states."""
        states = self.hidden_states(ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
