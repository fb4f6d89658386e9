"""Whether the entry's endpoint can be used: what the agent, STT and TTS show.

The entry checks its endpoint at setup; after that, turns find out, and nothing
polls it. A realtime session that opens says the endpoint works. A failure to
open one that the endpoint's state explains says it does not: it cannot be
reached, it rejects the key, or it no longer speaks the model's dialect. The
change is logged once each way and the entities follow it (unavailable while the
endpoint can't be used). Turns are still tried while it is down: the first one
that opens a session brings the entities back.

While the endpoint cannot be reached, a probe opens a session and closes it again
(a handshake: no response is asked for, nothing is billed), first after
PROBE_FIRST seconds and then less and less often, so the entities come back
without waiting for someone to speak. A rejected key or a refused dialect is not
probed: it changes when the user acts (re-authentication, a repair), which
reloads the entry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from ..realtime.errors import (
    AuthenticationError,
    BetaApiDisabledError,
    CannotConnectError,
    RealtimeError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

_LOGGER = logging.getLogger(__name__)

PROBE_FIRST = 30.0  # seconds after the endpoint became unreachable
PROBE_MAX = 600.0  # the probe's delay doubles up to this
# Failures that say the endpoint can't be used (not one turn's bad luck).
UNUSABLE = (CannotConnectError, AuthenticationError, BetaApiDisabledError)


class EndpointHealth:
    """The endpoint's availability as the entry's turns found it."""

    def __init__(
        self,
        hass: HomeAssistant,
        host: Callable[[], str],
        probe: Callable[[], Awaitable[None]],
    ) -> None:
        """`host()` names the endpoint in the log; `probe()` opens and closes a
        session (raising the library's errors)."""
        self.hass = hass
        self._host = host
        self._probe = probe
        self.available = True
        self._listeners: list[Callable[[], None]] = []
        self._delay = PROBE_FIRST
        self._cancel_timer: Callable[[], None] | None = None
        self._probing: asyncio.Task[None] | None = None
        self._closed = False

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` whenever availability changes; returns the remover."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @callback
    def opened(self) -> None:
        """A session opened: the endpoint works."""
        self._stop_timer()
        self._delay = PROBE_FIRST
        if self.available:
            return
        _LOGGER.info("The realtime endpoint %s is available again", self._host())
        self._set(available=True)

    @callback
    def failed(self, err: Exception) -> None:
        """A turn or a probe failed; only failures to use the endpoint count."""
        if not isinstance(err, UNUSABLE) or self._closed:
            return
        if self.available:
            _LOGGER.info(
                "The realtime endpoint %s is unavailable: %s", self._host(), err
            )
            self._set(available=False)
        probing = self._probing is not None and not self._probing.done()
        if isinstance(err, CannotConnectError) and not (self._cancel_timer or probing):
            self._cancel_timer = async_call_later(
                self.hass, self._delay, self._start_probe
            )

    def _set(self, *, available: bool) -> None:
        self.available = available
        for listener in list(self._listeners):
            listener()

    @callback
    def _start_probe(self, _now: object) -> None:
        self._cancel_timer = None
        if self._closed or self.available:
            return
        self._probing = self.hass.async_create_background_task(
            self._async_probe(), "openai_realtime endpoint probe"
        )

    async def _async_probe(self) -> None:
        """Open and close a session; try again later if it still can't be reached."""
        _LOGGER.debug("Probing the realtime endpoint %s", self._host())
        try:
            await self._probe()
        except RealtimeError as err:
            self._delay = min(self._delay * 2, PROBE_MAX)
            self._probing = None
            self.failed(err)
            return
        self._probing = None
        self.opened()

    def _stop_timer(self) -> None:
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None

    async def async_close(self) -> None:
        """Stop probing (unload)."""
        self._closed = True
        self._stop_timer()
        if (task := self._probing) is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
