"""Jittered exponential backoff for reconnecting."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


def backoff_delays(
    base: float = 0.5,
    cap: float = 30.0,
    factor: float = 2.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield endless delays: "full jitter" between 0 and base·factor^n, capped.

    Full jitter spreads many clients reconnecting after the same outage, instead of
    having them retry in lockstep.
    """
    rng = rng or random.Random()
    ceiling = base
    while True:
        yield rng.uniform(0, ceiling)
        ceiling = min(cap, ceiling * factor)
