"""voxgate: a self-hosted, OpenAI-compatible speech API server."""

__version__ = "0.1.0"
