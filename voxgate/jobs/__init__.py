"""Async transcription jobs: a durable queue in the SQLite file, a runner that survives restarts, and
signed webhook deliveries when a job ends."""
