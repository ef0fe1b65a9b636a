"""voxgate's Python SDK: the openai SDK's audio surface, plus pinned pipelines, safe retries, async jobs
and webhook verification. Only httpx is needed, not the server.

    from voxgate import Client

    client = Client(api_key="vg_live_...", base_url="http://localhost:8000/v1")
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello")
    audio.write_to_file("hello.mp3")
"""

from voxgate.sdk._agent import awrite_reply_audio, write_reply_audio
from voxgate.sdk._async_client import AsyncClient
from voxgate.sdk._client import Client
from voxgate.sdk._files import FileTypes
from voxgate.sdk._streaming import (
    AsyncStream,
    AsyncStreamedBinaryResponse,
    BinaryResponse,
    Stream,
    StreamedBinaryResponse,
)
from voxgate.sdk.errors import (
    APIStatusError,
    AuthenticationError,
    ConnectionError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionError,
    PipelineMismatchError,
    RateLimitError,
    ServerError,
    StreamError,
    TimeoutError,
    ValidationError,
    VoxgateError,
)
from voxgate.webhooks import WebhookVerificationError, construct_event, verify_signature

__all__ = [
    "Client",
    "AsyncClient",
    "FileTypes",
    "Stream",
    "AsyncStream",
    "BinaryResponse",
    "StreamedBinaryResponse",
    "AsyncStreamedBinaryResponse",
    "write_reply_audio",
    "awrite_reply_audio",
    "VoxgateError",
    "APIStatusError",
    "ValidationError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionError",
    "NotFoundError",
    "IdempotencyConflictError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServerError",
    "ConnectionError",
    "TimeoutError",
    "StreamError",
    "PipelineMismatchError",
    "WebhookVerificationError",
    "verify_signature",
    "construct_event",
]
