"""Jittered exponential backoff for reconnecting."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING

from .errors import CannotConnectError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

_LOGGER = logging.getLogger(__name__)


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


async def retry_connect[T](
    connect: Callable[[], Awaitable[T]],
    *,
    budget: float = 10.0,
    delays: Iterator[float] | None = None,
) -> T:
    """Run `connect`, trying again after transient connection failures.

    Stops when the next attempt, taking as long as the last one did, would end
    after `budget` seconds: a user waits for this, so a blackholed endpoint (whose
    attempt itself times out) is not tried again, while a refused or reset
    connection or an HTTP 5xx gets a few quick retries. Other failures (auth, 4xx,
    rate limits) are raised at once.
    """
    started = time.monotonic()
    delays = delays or backoff_delays(base=0.2, cap=2.0)
    while True:
        attempt = time.monotonic()
        try:
            return await connect()
        except CannotConnectError as err:
            delay = next(delays)
            now = time.monotonic()
            if not err.transient or (now - started) + delay + (now - attempt) > budget:
                raise
            _LOGGER.debug("Connecting failed (%s); again in %.2f s", err, delay)
            await asyncio.sleep(delay)
