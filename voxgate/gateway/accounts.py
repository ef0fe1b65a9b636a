"""Managing keys and reading what they spent: the admin routes, /v1/usage, /v1/credits and the CLI all
go through this one service, so none of them reaches the store directly.

Blocking (SQLite): routers call it off the event loop."""

from __future__ import annotations

from typing import Any

from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.models.catalog import Catalog
from voxgate.store.interfaces import GatewayStore, KeyRepository, PipelineStore
from voxgate.store.keys import ApiKey, from_nano


class Accounts:
    def __init__(self, keys: KeyRepository, store: GatewayStore, catalog: Catalog,
                 pipelines: PipelineStore | None = None) -> None:
        self.keys = keys
        self.store = store
        self.catalog = catalog
        self.pipelines = pipelines

    # -- keys ---------------------------------------------------------------------------------------

    def pipeline_id(self, name: str | None) -> str | None:
        """A key's scope: a stored voice pipeline's id (the key may use it and its models), else one model,
        stored as its catalog id so aliases of it keep working."""
        if not name:
            return None
        if self.pipelines is not None and self.pipelines.get(name) is not None:
            return name
        spec = self.catalog.resolve(name)
        if spec is None:
            raise bad_request(f"{name!r} is neither a pipeline (GET /v1/pipelines) nor a model (GET /v1/models)",
                              param="pipeline", code="pipeline_not_found")
        return spec.id

    def create_key(self, name: str, *, admin: bool = False, pipeline: str | None = None,
                   credits: float | None = None, rpm: int | None = None,
                   concurrency: int | None = None) -> tuple[ApiKey, str]:
        """A new key and its plain text, the only time it exists."""
        return self.keys.create(name, admin=admin, pipeline=self.pipeline_id(pipeline), credits=credits, rpm=rpm,
                                concurrency=concurrency)

    def list_keys(self) -> list[ApiKey]:
        return self.keys.list()

    def key(self, key_id: str) -> ApiKey:
        return _found(self.keys.get(key_id), key_id)

    def update_key(self, key_id: str, **changes: Any) -> ApiKey:
        """Change a live key; `pipeline` (if given) is resolved to its catalog id first."""
        if "pipeline" in changes:
            changes["pipeline"] = self.pipeline_id(changes["pipeline"])
        return _found(self.keys.update(key_id, **changes), key_id)

    def revoke_key(self, key_id: str) -> None:
        if not self.keys.revoke(key_id):
            raise _missing(key_id)

    # -- what a key spent ---------------------------------------------------------------------------

    @staticmethod
    def subject(principal: Principal, key_id: str | None) -> str:
        """Whose usage a caller may read: its own, or (admin keys only) any key's."""
        if not key_id or key_id == principal.key_id:
            return principal.key_id
        if not principal.admin:
            raise APIError(403, "only an admin key may read another key's usage", code="forbidden", param="key_id")
        return key_id

    def totals(self) -> list[dict[str, Any]]:
        """Every key's metered use since the database began, by model: it survives restarts and is the same
        from every process that shares the database."""
        return [{"model": r.model, "unit": r.unit, "requests": r.requests, "units": r.units,
                 "credits": from_nano(r.credits_nano)} for r in self.store.totals()]

    def usage(self, key_id: str, start: str, end: str) -> dict[str, Any]:
        """The `usage` object: ledger totals by day and model, by model, and overall."""
        rows = self.store.usage(key_id, start, end)
        by_model: dict[str, dict[str, Any]] = {}
        for r in rows:
            m = by_model.setdefault(r.model, {"model": r.model, "unit": r.unit, "requests": 0, "units": 0,
                                              "credits_nano": 0})
            m["requests"] += r.requests
            m["units"] += r.units
            m["credits_nano"] += r.credits_nano
        return {
            "object": "usage", "key_id": key_id, "start_date": start, "end_date": end,
            "data": [{"date": r.day, "model": r.model, "unit": r.unit, "requests": r.requests, "units": r.units,
                      "credits": from_nano(r.credits_nano)} for r in rows],
            "by_model": [{**{k: v for k, v in m.items() if k != "credits_nano"},
                          "credits": from_nano(m["credits_nano"])} for m in by_model.values()],
            "total": {"requests": sum(r.requests for r in rows),
                      "credits": from_nano(sum(r.credits_nano for r in rows))},
        }

    def credits(self, key_id: str) -> dict[str, Any]:
        """The `credits` object: balance (None: unlimited) and what was spent in total."""
        balance, spent = self.store.balance(key_id)
        return {"object": "credits", "key_id": key_id, "unlimited": balance is None,
                "balance": None if balance is None else from_nano(balance), "used": from_nano(spent)}


def _missing(key_id: str) -> APIError:
    return APIError(404, f"no live API key {key_id!r}", code="key_not_found")


def _found(record: ApiKey | None, key_id: str) -> ApiKey:
    if record is None:
        raise _missing(key_id)
    return record
