"""voxgate: a self-hosted, OpenAI-compatible speech API server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "Client", "AsyncClient"]

if TYPE_CHECKING:
    from voxgate.sdk import AsyncClient, Client


def __getattr__(name: str) -> Any:
    """`from voxgate import Client` loads the SDK (httpx only) on first use: `import voxgate` stays cheap."""
    if name in ("Client", "AsyncClient"):
        from voxgate import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'voxgate' has no attribute {name!r}")
