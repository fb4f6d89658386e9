"""Barge-in for full-duplex callers (the CLI satellite, browsers).

When the user starts speaking while the model's audio plays, the response must stop
and the assistant item must be cut where playback actually was: otherwise the model
believes the user heard everything it generated. The caller reports what it played.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from . import events as ev
from .audio import SESSION_RATE
from .errors import RealtimeError

if TYPE_CHECKING:
    from .session import RealtimeSession

_LOGGER = logging.getLogger(__name__)


class BargeIn:
    """Cancel and truncate the playing response when the user interrupts."""

    def __init__(self, session: RealtimeSession, rate: int = SESSION_RATE) -> None:
        """Listen for `speech_started` on `session`."""
        self._session = session
        self._bytes_per_ms = rate * 2 / 1000
        self.item_id: str | None = None
        self.played_bytes = 0
        self.interruptions: list[tuple[str, int]] = []  # (item_id, audio_end_ms)
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = session.add_listener(self._on_event)

    @property
    def played_ms(self) -> int:
        """Milliseconds of the current assistant item played so far."""
        return int(self.played_bytes / self._bytes_per_ms)

    def played(self, item_id: str, num_bytes: int) -> None:
        """The caller played `num_bytes` of `item_id`'s audio."""
        if item_id != self.item_id:
            self.item_id, self.played_bytes = item_id, 0
        self.played_bytes += num_bytes

    def playback_finished(self) -> None:
        """Everything generated was heard: nothing to cut on the next speech."""
        self.item_id, self.played_bytes = None, 0

    def _on_event(self, event: ev.ServerEvent) -> None:
        if isinstance(event, ev.SpeechStarted) and self.item_id is not None:
            task = asyncio.get_running_loop().create_task(self.interrupt())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def interrupt(self) -> None:
        """Stop the response and truncate the item at the played position."""
        item_id, played_ms = self.item_id, self.played_ms
        if item_id is None:
            return
        self.playback_finished()
        try:
            await self._session.cancel_response()
            await self._session.truncate(item_id, played_ms)
        except RealtimeError as err:
            _LOGGER.debug("Barge-in failed: %s", err)
            return
        self.interruptions.append((item_id, played_ms))

    async def close(self) -> None:
        """Stop listening; wait for an interruption in progress."""
        self._unsubscribe()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
