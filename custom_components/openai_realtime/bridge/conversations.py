"""One realtime session per HA conversation, kept warm between turns.

The context lives in the server-side session, so follow-up turns reuse it, and the
session follows HA's ChatLog (see chat_log_sync.py): a session that dropped,
expired or was closed is rebuilt from the ChatLog by the next turn. Idle sessions
close after the configured timeout, the least recently used beyond the warm cap
at once; a conversation without a session is forgotten. A conversation also owns
its voice turn: it starts it, and ends it when a new one starts or it closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from ..realtime.backoff import retry_connect
from ..realtime.errors import ConnectionLostError, RealtimeError
from ..realtime.session import RealtimeSession, ResponseStream
from .chat_log_sync import ChatLogPosition, missing_entries
from .tools import ToolSet
from .voice_turn import TurnState, VoiceTurn

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    import aiohttp
    from homeassistant.components import conversation

    from ..realtime.endpoint import Endpoint
    from ..realtime.events import ServerEvent, SessionConfig

_LOGGER = logging.getLogger(__name__)

# A user waits for a session to open; Voice PE gives an HTTP request 5 s. One
# attempt's handshake and session.created get this long, all retries this budget.
CONNECT_TIMEOUT = 3.5
CONNECT_BUDGET = 4.5
# Idle websockets kept warm per entry. Every one-off voice command is a new HA
# conversation; without a cap they pile up until the idle timeout, into HA's
# per-host connection limit and the provider's concurrent-session limit.
MAX_WARM_SESSIONS = 8


class Conversation:
    """The realtime session behind one HA conversation id, and its voice turn."""

    def __init__(self, pool: ConversationPool, conversation_id: str) -> None:
        """Create an idle holder; `ensure()` opens the session."""
        self.pool = pool
        self.conversation_id = conversation_id
        self.lock = asyncio.Lock()  # one turn at a time per conversation
        self.session: RealtimeSession | None = None
        self.config: SessionConfig | None = None  # what the session was sent
        # What the last turn found it should be (e.g. with the satellite's area),
        # applied at the start of the next turn rather than on the answer's path.
        self.wanted: SessionConfig | None = None
        self.tools = ToolSet()  # the session's tools, by the names it knows them
        self.clock = False  # no tool tells the time: each turn adds the clock
        self.position = ChatLogPosition()  # how much of HA's ChatLog it holds
        self.opened = 0  # how many websockets this conversation has used
        self.voice_turn: VoiceTurn | None = None  # the latest spoken turn
        self._skip_checked: VoiceTurn | None = None
        self.last_used = time.monotonic()
        self._cancel_idle: Callable[[], None] | None = None

    async def ensure(
        self, config: SessionConfig, tools: ToolSet | None = None
    ) -> RealtimeSession:
        """Return a live session configured with `config`, (re)opening if needed.

        A newly opened session holds nothing of the ChatLog yet: the next
        `follow` rebuilds it.
        """
        self._stop_idle_timer()
        if tools is not None:
            self.tools = tools
        session = self.session
        if session is not None and session.closed:
            self.pool.forget(session)
            session = self.session = None
        if session is None:
            session = await retry_connect(
                lambda: RealtimeSession.connect(
                    self.pool.http,
                    self.pool.endpoint(),
                    config,
                    timeout=CONNECT_TIMEOUT,
                ),
                budget=CONNECT_BUDGET,
            )
            self.pool.track(session)
            self.opened += 1
            self.session, self.config = session, config
            self.position = ChatLogPosition()
        elif config != self.config:
            await session.configure(config)
            self.config = config
        self.wanted = None  # this turn's config supersedes an earlier wish
        return session

    async def follow(self, contents: Sequence[conversation.Content], upto: int) -> None:
        """Add what the session lacks of the ChatLog's first `upto` contents."""
        session = self.session
        if session is None:
            return
        turn = self.voice_turn
        if turn is not None and turn is not self._skip_checked:
            self._skip_checked = turn
            if turn.state is TurnState.ABANDONED and turn.transcript:
                # Heard as audio, answered by HA: the ChatLog's text of it is held.
                self.position.skip_user = turn.transcript
        entries = missing_entries(contents, self.position, upto, self.tools)
        self.position.held = max(self.position.held, upto)
        if entries:
            _LOGGER.debug(
                "Adding %d ChatLog items to conversation %s",
                len(entries),
                self.conversation_id,
            )
            await session.replay(entries)

    def followed(self, upto: int) -> None:
        """The session holds the ChatLog's first `upto` contents (our own turn's)."""
        if self.session is not None:
            self.position.held = max(self.position.held, upto)

    async def start_voice_turn(
        self, config: SessionConfig, tools: ToolSet | None
    ) -> VoiceTurn:
        """A new spoken turn on this conversation; a previous one is over now.

        If the previous answer was still playing (the user woke the satellite to
        interrupt it), the model is told where the user stopped hearing it.
        """
        await self._interrupt_previous_answer()
        await self.end_voice_turn("a new turn started")
        warm = self.session is not None and not self.session.closed
        session = await self.ensure(config, tools)
        self.voice_turn = VoiceTurn(self.conversation_id, session, reused=warm)
        return self.voice_turn

    async def _interrupt_previous_answer(self) -> None:
        """Barge-in: cancel the previous answer if it still runs, and truncate its
        items at the position the user could have heard."""
        turn, session = self.voice_turn, self.session
        if turn is None or session is None or session.closed:
            return
        cuts = turn.unheard_items(time.monotonic())
        if not cuts:
            return
        _LOGGER.debug("Barge-in on %s: truncating %s", self.conversation_id, cuts)
        try:
            if turn.response is not None and not turn.response.finished:
                await session.cancel_response(turn.response)
            for item_id, audio_end_ms in cuts:
                await session.truncate(item_id, audio_end_ms)
        except RealtimeError as err:
            _LOGGER.debug("Barge-in failed: %s", err)

    async def end_voice_turn(self, why: str) -> None:
        """Abandon the voice turn if it is still waiting, and let it finish closing."""
        if (turn := self.voice_turn) is not None:
            turn.abandon(why)
            await turn.close()

    def want(self, config: SessionConfig, tools: ToolSet) -> None:
        """The config the next turn should start with (sent by its `ensure`)."""
        self.wanted, self.tools = config, tools

    def cancel_in_background(self, response: ResponseStream | None) -> None:
        """Stop a response that nobody will read (a failed turn's), without waiting."""
        if response is not None and self.session is not None:
            self.pool.run_in_background(self.session.cancel_response(response))

    def drop(self) -> None:
        """Forget a broken session so the next turn reopens (and rebuilds) it."""
        if self.session is not None:
            self.pool.close_in_background(self.session)
            self.session = None

    @property
    def idle(self) -> bool:
        """Open, and neither running a turn nor waiting for a voice turn's agent."""
        turn = self.voice_turn
        return (
            self.session is not None
            and not self.lock.locked()
            and (turn is None or turn.over)
        )

    @callback
    def touch(self) -> None:
        """Restart the idle timer after a turn; keep the pool within its cap."""
        self.last_used = time.monotonic()
        self._stop_idle_timer()
        if self.pool.closed:
            return  # unloaded while this turn ran: no timer may outlive the entry
        self._cancel_idle = async_call_later(
            self.pool.hass, self.pool.idle_timeout, self._idle
        )
        self.pool.evict_least_recently_used()

    def suspend(self) -> None:
        """Close the websocket and forget the conversation: a follow-up rebuilds it
        from the ChatLog."""
        self.pool.discard(self.conversation_id)

    def _stop_idle_timer(self) -> None:
        if self._cancel_idle is not None:
            self._cancel_idle()
            self._cancel_idle = None

    @callback
    def _idle(self, _now: object) -> None:
        self._cancel_idle = None
        if self.lock.locked():
            return  # a turn is running; it will touch() again
        _LOGGER.debug("Closing idle session of conversation %s", self.conversation_id)
        self.pool.discard(self.conversation_id)

    async def close(self) -> None:
        """End the voice turn, close the session and stop the timer."""
        self._stop_idle_timer()
        if (turn := self.voice_turn) is not None:
            await turn.close()
        if self.session is not None:
            session, self.session = self.session, None
            await self.pool.close_session(session)


class ConversationPool:
    """The conversations of one config entry and every websocket they opened."""

    def __init__(
        self,
        hass: HomeAssistant,
        http: aiohttp.ClientSession,
        endpoint: Callable[[], Endpoint],
        idle_timeout: float,
        listeners: Sequence[Callable[[ServerEvent], None]] = (),
        on_open: Callable[[], None] | None = None,
    ) -> None:
        """Keep what opening a session needs; `listeners` hear all sessions' events
        and `on_open()` every session that opened."""
        self.hass = hass
        self.http = http
        self.endpoint = endpoint
        self.idle_timeout = idle_timeout
        self.listeners = listeners
        self.on_open = on_open
        self.conversations: dict[str, Conversation] = {}
        self.open_sessions: set[RealtimeSession] = set()
        self._unlisten: dict[RealtimeSession, list[Callable[[], None]]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.closed = False

    def get(self, conversation_id: str) -> Conversation:
        """The holder for a conversation (created on first use).

        Raises ConnectionLostError once the entry is unloading.
        """
        if self.closed:
            raise ConnectionLostError("The integration is unloading")
        if (conv := self.conversations.get(conversation_id)) is None:
            conv = self.conversations[conversation_id] = Conversation(
                self, conversation_id
            )
        return conv

    def track(self, session: RealtimeSession) -> None:
        """Remember an open session so unload can close it; attach the listeners.

        Every session of the entry is opened here, so listeners (usage accounting)
        see every response, whichever path (agent, voice, read-aloud) asked for it.
        """
        self.open_sessions.add(session)
        self._unlisten[session] = [
            session.add_listener(listener) for listener in self.listeners
        ]
        if self.on_open is not None:
            self.on_open()

    def forget(self, session: RealtimeSession) -> None:
        """Stop tracking a session that is already closed."""
        self.open_sessions.discard(session)
        for unlisten in self._unlisten.pop(session, []):
            unlisten()

    async def close_session(self, session: RealtimeSession) -> None:
        """Close one session."""
        self.forget(session)
        await session.close()

    def close_in_background(self, session: RealtimeSession) -> None:
        """Close a session without waiting (unload still waits for it)."""
        self.run_in_background(self.close_session(session))

    @callback
    def evict_least_recently_used(self) -> None:
        """Suspend the oldest idle sessions while more than MAX_WARM_SESSIONS are open.

        Busy ones count but are never closed under a running turn.
        """
        opened = [c for c in self.conversations.values() if c.session is not None]
        idle = sorted((c for c in opened if c.idle), key=lambda c: c.last_used)
        for conv in idle[: max(0, len(opened) - MAX_WARM_SESSIONS)]:
            _LOGGER.debug("Suspending the session of %s (cap)", conv.conversation_id)
            conv.suspend()

    @callback
    def discard(self, conversation_id: str) -> None:
        """Close and forget a conversation's session (idle timeout)."""
        if (conv := self.conversations.pop(conversation_id, None)) is not None:
            self.run_in_background(conv.close())

    def run_in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Close or cancel something without waiting; unload waits for it.

        Failures are logged here: nobody else awaits these.
        """
        task = self.hass.async_create_task(_logged(work))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def async_close(self) -> None:
        """Close every session, turn and timer (unload, shutdown)."""
        self.closed = True
        conversations, self.conversations = list(self.conversations.values()), {}
        await asyncio.gather(*(conv.close() for conv in conversations))
        sessions = list(self.open_sessions)
        await asyncio.gather(*(self.close_session(session) for session in sessions))
        while self._closing:
            await asyncio.gather(*self._closing)


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except RealtimeError as err:
        _LOGGER.debug("Background close or cancel failed: %s", err)
