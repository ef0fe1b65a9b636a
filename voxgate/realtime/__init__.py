"""Realtime sessions over WebSocket, free of the WebSocket itself: OpenAI's GA Realtime transcription events.

`protocol` parses client events and builds server events; `audio` turns arriving pcm16 / G.711 into 16 kHz;
`turns` is server_vad on a live stream; `drafts` keeps deltas growing only; `session` runs one transcription
session, `conversation` one with a voice pipeline, which answers each turn aloud."""

from voxgate.realtime.conversation import ConversationSession
from voxgate.realtime.protocol import ClientEvent, PipelineInfo, RealtimeError, SessionConfig, new_session, parse_event
from voxgate.realtime.session import TranscriptionSession

__all__ = ["ClientEvent", "ConversationSession", "PipelineInfo", "RealtimeError", "SessionConfig",
           "TranscriptionSession", "new_session", "parse_event"]
