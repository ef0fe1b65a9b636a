"""Text embeddings (POST /v1/embeddings): a sentence-transformer run on numpy, requests batched together."""

from voxgate.embeddings.service import EmbeddingService

__all__ = ["EmbeddingService"]
