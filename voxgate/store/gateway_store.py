"""The embedded GatewayStore: idempotency records, credit holds and the ledger in the SQLite file.

Every method that writes takes the write lock first (BEGIN IMMEDIATE), which is what makes a claim
exclusive across server processes sharing the file."""

from __future__ import annotations

import logging

from voxgate.store import idempotency, ledger
from voxgate.store.db import SqlDatabase
from voxgate.store.interfaces import Claim, IdempotencyRecord, Settlement, UsageRow

log = logging.getLogger("voxgate.store")


class SqliteGatewayStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def claim(self, key_id: str, idem_key: str, fingerprint: str, request_id: str, ttl_s: float,
              stale_s: float) -> Claim | IdempotencyRecord:
        with self.db.transaction() as conn:
            return idempotency.claim(conn, key_id, idem_key, fingerprint, request_id, ttl_s, stale_s)

    def peek(self, key_id: str, idem_key: str) -> IdempotencyRecord | None:
        return idempotency.peek(self.db.conn(), key_id, idem_key)

    def heartbeat(self, claim: Claim) -> None:
        with self.db.transaction() as conn:
            idempotency.heartbeat(conn, claim)

    def reserve(self, key_id: str, request_id: str, cost_nano: int, minimum_nano: int | None = None) -> int | None:
        with self.db.transaction() as conn:
            return ledger.reserve(conn, key_id, request_id, cost_nano, minimum_nano)

    def release_hold(self, request_id: str) -> None:
        with self.db.transaction() as conn:
            ledger.release_hold(conn, request_id)

    def settle(self, s: Settlement) -> None:
        with self.db.transaction() as conn:
            if s.claim is not None:
                if s.response is not None:
                    if not idempotency.complete(conn, s.claim, s.response, s.ttl_s):
                        log.warning("idempotency key of request %s was taken over; response not stored", s.request_id)
                else:
                    idempotency.release(conn, s.claim)
            for charge in (s.charge, *s.more_charges):
                if charge is not None:
                    ledger.charge(conn, charge)
            if s.hold:
                ledger.release_hold(conn, s.request_id)

    def balance(self, key_id: str) -> tuple[int | None, int]:
        return ledger.balance(self.db.conn(), key_id)

    def usage(self, key_id: str, start_day: str, end_day: str) -> list[UsageRow]:
        return ledger.usage(self.db.conn(), key_id, start_day, end_day)

    def totals(self) -> list[UsageRow]:
        return ledger.totals(self.db.conn())

    def purge_expired(self) -> int:
        with self.db.transaction() as conn:
            return idempotency.purge_expired(conn)
