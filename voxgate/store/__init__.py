"""Persistence behind small Protocols (`interfaces/`): API keys, idempotency records, the ledger and
credit holds, async jobs and webhook deliveries. The embedded implementation is SQLite (WAL) in the data
dir; a shared one (PostgreSQL, Redis) implements the same interfaces. Imports no other voxgate layer."""
