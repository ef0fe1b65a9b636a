"""What a request costs: the unit each task is metered in and a model's price per unit, in nano-credits.

One rule for every path that charges (the synchronous routes and async jobs)."""

from __future__ import annotations

import math

from voxgate.models.catalog import ModelSpec
from voxgate.store.keys import NANO

UNITS = {"speech": "characters", "transcription": "seconds", "chat": "tokens", "embedding": "tokens",
         "image": "images"}


def price_nano(spec: ModelSpec) -> int:
    """Nano-credits per unit of `spec` (the catalog's `price_per_unit`)."""
    return int(round(spec.price_per_unit * NANO))


def cost_nano(spec: ModelSpec, units: int) -> int:
    return int(units) * price_nano(spec)


def decoding_hold(spec: ModelSpec, declared_s: float | None, max_s: float) -> tuple[int, int]:
    """(most, least) nano-credits to hold before an upload is decoded.

    With a declared duration: the most covers it with room for a header's error (1.25x + 5 s), the least is
    the declared duration itself (a balance short of it is refused before decoding). Without one: up to
    `max_s`, and at least one second. The decoder then stops where the hold ends."""
    price = price_nano(spec)
    if declared_s is not None:
        want_s, need_s = min(max_s, declared_s * 1.25 + 5.0), min(max_s, declared_s)
    else:
        want_s, need_s = max_s, 1.0
    return price * math.ceil(want_s), price * max(1, math.ceil(need_s))
