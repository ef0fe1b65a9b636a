"""What a request costs: the unit each task is metered in and a model's price per unit, in nano-credits.

One rule for every path that charges (the synchronous routes and async jobs)."""

from __future__ import annotations

from voxgate.models.catalog import ModelSpec
from voxgate.store.keys import NANO

UNITS = {"speech": "characters", "transcription": "seconds"}


def price_nano(spec: ModelSpec) -> int:
    """Nano-credits per unit of `spec` (the catalog's `price_per_unit`)."""
    return int(round(spec.price_per_unit * NANO))


def cost_nano(spec: ModelSpec, units: int) -> int:
    return int(units) * price_nano(spec)
