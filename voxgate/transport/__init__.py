"""The HTTP connection below the ASGI app: uvicorn's protocol with deadlines and size limits on what a
client sends before the app sees a request (headers) and while it reads one (the body)."""

from voxgate.transport.protocol import guarded_protocol

__all__ = ["guarded_protocol"]
