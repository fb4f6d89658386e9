"""A realtime session: configure it, feed it audio or text, stream its responses.

One reader task owns the websocket's receive side and routes every server event:
replies to our requests (matched by `event_id` or by kind), response events to the
`ResponseStream` they belong to (matched by the metadata tag we put on each
`response.create`), transcripts to whoever waits for them, and everything to
listeners.

No caller hangs, whatever the server sends: every waiter ends with its reply, a
typed failure, the loss of the connection, or a deadline (each request's timeout;
for a response, `response_idle_timeout` of silence). The reader skips what it
cannot use and never dies of a server event. What the session keeps for a long
conversation is bounded (recent history, recent transcripts).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
import itertools
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal

from . import events as ev
from .connection import RealtimeConnection, error_event_to_exception
from .errors import (
    AuthenticationError,
    BetaApiDisabledError,
    ConnectionLostError,
    RateLimitedError,
    RealtimeError,
    ResponseTimeoutError,
    ServerError,
    SessionExpiredError,
    TranscriptionFailedError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine

    import aiohttp

    from .endpoint import Dialect, Endpoint

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
# Longest silence from the server within one response (before its response.created
# too) before the response fails with ResponseTimeoutError.
RESPONSE_IDLE_TIMEOUT = 60.0
# Recent conversation items kept for replay after a reconnect (a reopened session
# replays a few dozen at most; older context is the server's to summarise).
HISTORY_LIMIT = 64
# Transcripts that arrived before anyone asked for them, kept for a late ask.
TRANSCRIPT_LIMIT = 32
# Responses the server started itself (turn detection) awaiting a reader of
# `server_responses`; the oldest unread ones make room for new ones.
SERVER_RESPONSE_LIMIT = 16

_REF_KEY = "client_ref"  # metadata key tying a response to the request that made it
_ACTIVE_RESPONSE = "conversation_already_has_active_response"
_CANCEL_NOT_ACTIVE = "response_cancel_not_active"
# Errors that name no request but stop every response of the session.
_FAILS_ALL_RESPONSES = (RateLimitedError, AuthenticationError, BetaApiDisabledError)


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A completed function call from the model."""

    call_id: str
    name: str
    arguments: str
    item_id: str


ResponseEvent = (
    ev.TextDelta
    | ev.TextDone
    | ev.TranscriptDelta
    | ev.TranscriptDone
    | ev.AudioDelta
    | ev.AudioDone
    | ev.OutputItemAdded
    | FunctionCall
    | ev.ResponseDone
)


@dataclass(slots=True)
class HistoryEntry:
    """One conversation item as we can replay it on a new connection (text only)."""

    kind: Literal["user", "assistant", "function_call", "function_call_output"]
    text: str = ""
    call_id: str = ""
    name: str = ""
    item_id: str = ""


class ResponseStream:
    """The events of one response, in order, ending with its `ResponseDone`."""

    def __init__(self, ref: str | None) -> None:
        """Create an empty stream; the session feeds it."""
        self.ref = ref
        self.response_id: str | None = None
        # The server's last word on the response (also when it failed).
        self.done: ev.ResponseDone | None = None
        self.function_calls: list[FunctionCall] = []
        # When its first audio delta arrived (time.monotonic()), if any did.
        self.first_audio_at: float | None = None
        self._queue: asyncio.Queue[ResponseEvent | BaseException] = asyncio.Queue()
        self._text: list[str] = []
        self._finished = False

    @property
    def text(self) -> str:
        """Text output, or the transcript of audio output, received so far."""
        return "".join(self._text)

    @property
    def usage(self) -> ev.Usage | None:
        """Token usage, once the response is done."""
        return self.done.usage if self.done else None

    def _feed(self, event: ResponseEvent) -> None:
        if self._finished:
            return
        if isinstance(event, ev.TextDelta | ev.TranscriptDelta):
            self._text.append(event.delta)
        elif isinstance(event, ev.AudioDelta):
            if self.first_audio_at is None:
                self.first_audio_at = time.monotonic()
        elif isinstance(event, FunctionCall):
            if any(
                (c.call_id, c.item_id) == (event.call_id, event.item_id)
                for c in self.function_calls
            ):
                return  # the server repeated the item: one call runs once
            self.function_calls.append(event)
        elif isinstance(event, ev.ResponseDone):
            self.done = event
            self._finished = True
        self._queue.put_nowait(event)

    def _fail(self, err: BaseException, done: ev.ResponseDone | None = None) -> None:
        if not self._finished:
            self._finished = True
            self.done = done
            self._queue.put_nowait(err)

    @property
    def finished(self) -> bool:
        """Whether the stream has received its last event."""
        return self._finished

    def __aiter__(self) -> AsyncIterator[ResponseEvent]:
        """Iterate the events; raises the session's error if the response breaks.

        Raises ResponseTimeoutError (a TimeoutError too) when the server sent
        nothing for this response within the session's `response_idle_timeout`.
        """
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ResponseEvent]:
        while True:
            item = await self._queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, ev.ResponseDone):
                return

    async def wait_done(self) -> ev.ResponseDone:
        """Consume the remaining events and return the final `ResponseDone`."""
        async for _ in self:
            pass
        assert self.done is not None
        return self.done


@dataclass(slots=True)
class _Waiter:
    match: Callable[[ev.ServerEvent], bool]
    future: asyncio.Future[ev.ServerEvent]
    event_id: str | None = None


@dataclass(slots=True, eq=False)
class _Flight:
    """The session's bookkeeping for a response it routes events to."""

    stream: ResponseStream
    request: dict[str, Any] | None = None  # our response.create (None: the server's)
    event_id: str | None = None  # that event's id, until the response starts
    cancel_active: bool = False  # on "active response": cancel it, ask again (once)
    heard_at: float = 0.0  # loop time of the last event for it
    deadline: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Transcript:
    future: asyncio.Future[str]
    waiting: int = 0  # callers in wait_transcript


@dataclass(slots=True)
class _State:
    waiters: list[_Waiter] = field(default_factory=list)
    # Responses asked for and not started yet, by our metadata tag (ref) and by
    # the event_id of their response.create; then, started, by response_id.
    pending: dict[str, _Flight] = field(default_factory=dict)
    by_event: dict[str, _Flight] = field(default_factory=dict)
    streams: dict[str, _Flight] = field(default_factory=dict)
    transcripts: dict[str, _Transcript] = field(default_factory=dict)  # item_id


def _reject[T](future: asyncio.Future[T], err: BaseException) -> None:
    """Fail a future and mark its exception seen: its caller may be gone."""
    if not future.done():
        future.set_exception(err)
        future.exception()


def _seen(task: asyncio.Task[Any]) -> None:
    """Done callback: a task's failure is its awaiter's, not asyncio's, to report."""
    if not task.cancelled():
        task.exception()


class RealtimeSession:
    """A configured realtime session over one connection."""

    def __init__(
        self,
        connection: RealtimeConnection,
        created: ev.SessionCreated,
        *,
        history_limit: int = HISTORY_LIMIT,
        response_idle_timeout: float = RESPONSE_IDLE_TIMEOUT,
    ) -> None:
        """Take over an open connection; prefer `RealtimeSession.connect()`.

        `history` keeps the last `history_limit` items; a response that hears
        nothing from the server for `response_idle_timeout` seconds fails.
        """
        self.connection = connection
        self.dialect: Dialect = connection.endpoint.dialect
        self.server_session: dict[str, Any] = created.session
        self.history: list[HistoryEntry] = []
        self.history_limit = history_limit
        self.response_idle_timeout = response_idle_timeout
        self.server_responses: asyncio.Queue[ResponseStream] = asyncio.Queue(
            maxsize=SERVER_RESPONSE_LIMIT
        )
        self.error: RealtimeError | None = None
        self._state = _State()
        self._listeners: list[Callable[[ev.ServerEvent], None]] = []
        self._refs = itertools.count(1)
        self._ref_prefix = secrets.token_hex(3)
        self._expired_message: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._reader = self._loop.create_task(
            self._read_loop(), name="openai_realtime reader"
        )

    @classmethod
    async def connect(
        cls,
        http: aiohttp.ClientSession,
        endpoint: Endpoint,
        config: ev.SessionConfig | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT,
        history_limit: int = HISTORY_LIMIT,
        response_idle_timeout: float = RESPONSE_IDLE_TIMEOUT,
    ) -> RealtimeSession:
        """Open a connection and, if given, apply `config` before returning.

        Raises TimeoutError when the server does not confirm `config` in time.
        """
        connection, created = await RealtimeConnection.open(
            http, endpoint, timeout=timeout
        )
        session = cls(
            connection,
            created,
            history_limit=history_limit,
            response_idle_timeout=response_idle_timeout,
        )
        if config is not None:
            try:
                await session.configure(config, timeout=timeout)
            except BaseException:
                await session.close()
                raise
        return session

    # --- state -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the session can no longer be used."""
        return self._reader.done() or self.connection.closed

    @property
    def active_response(self) -> ResponseStream | None:
        """The response currently being generated, if any."""
        return next((flight.stream for flight in self._state.streams.values()), None)

    def add_listener(
        self, listener: Callable[[ev.ServerEvent], None]
    ) -> Callable[[], None]:
        """Call `listener` with every server event; returns a function to remove it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- requests --------------------------------------------------------------------

    async def configure(
        self, config: ev.SessionConfig, *, timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """Send `session.update` and wait for `session.updated` (or the error).

        Raises TimeoutError after `timeout` seconds without either.
        """
        if config.voice == ev.session_voice(self.server_session, self.dialect):
            # The voice is fixed once the session has spoken: leave it as it is.
            config = replace(config, voice=None)
        updated = await self._request(
            ev.session_update(config, self.dialect),
            lambda e: isinstance(e, ev.SessionUpdated),
            timeout,
        )
        assert isinstance(updated, ev.SessionUpdated)
        self.server_session = updated.session
        return updated.session

    async def append_audio(self, audio: bytes) -> None:
        """Append audio in the session's input format (24 kHz PCM16 by default)."""
        if audio:
            if self.error is not None:
                raise self.error
            await self.connection.send_audio(audio)

    async def commit(self, *, timeout: float = REQUEST_TIMEOUT) -> str:
        """Commit the input buffer as a user item; return the item id.

        Raises TimeoutError after `timeout` seconds without the server's answer.
        """
        return await (await self.start_commit(timeout=timeout))

    async def start_commit(
        self, *, timeout: float = REQUEST_TIMEOUT
    ) -> asyncio.Task[str]:
        """Send the commit, then return a task resolving to the new item id.

        The commit is on the wire when this returns, so a `response.create` sent next
        answers this audio (the server handles events in order, and fixes a
        response's input when it is created) without waiting a round trip. The
        task raises TimeoutError after `timeout` seconds without the server's answer.
        """
        waiter = self._add_waiter(lambda e: isinstance(e, ev.AudioCommitted))
        event = ev.input_audio_commit()
        waiter.event_id = event["event_id"] = self.connection.next_event_id()
        try:
            await self._send(event)
        except BaseException:
            self._drop_waiter(waiter)
            raise

        async def committed() -> str:
            try:
                async with asyncio.timeout(timeout):
                    done = await waiter.future
            finally:
                self._drop_waiter(waiter)
            assert isinstance(done, ev.AudioCommitted)
            return done.item_id

        task = self._loop.create_task(committed(), name="openai_realtime commit")
        task.add_done_callback(_seen)  # a caller may drop the task unawaited
        return task

    async def clear_audio(self) -> None:
        """Drop whatever is in the input buffer."""
        await self._send(ev.input_audio_clear())

    async def add_user_text(self, text: str) -> str:
        """Add a user text message to the conversation; return its item id."""
        item_id = self._new_item_id()
        await self._send(ev.item_create(ev.user_text_item(text, item_id)))
        self._remember(HistoryEntry("user", text=text, item_id=item_id))
        return item_id

    async def add_system_text(self, text: str) -> str:
        """Add a system message (context for the next response); return its id.

        Unlike a change of instructions, an appended item keeps the cached prefix.
        """
        item_id = self._new_item_id()
        await self._send(ev.item_create(ev.system_text_item(text, item_id)))
        return item_id

    async def send_function_result(self, call_id: str, output: str) -> str:
        """Add a `function_call_output` item (follow with `create_response`)."""
        item_id = self._new_item_id()
        item = ev.function_call_output_item(call_id, output, item_id)
        await self._send(ev.item_create(item))
        self._remember(
            HistoryEntry(
                "function_call_output", text=output, call_id=call_id, item_id=item_id
            )
        )
        return item_id

    async def replay(self, entries: list[HistoryEntry]) -> None:
        """Re-create earlier turns as text items (after a reconnect)."""
        for entry in entries:
            item_id = self._new_item_id()
            if entry.kind == "user":
                if not entry.text:
                    continue  # audio we never got a transcript for
                item = ev.user_text_item(entry.text, item_id)
            elif entry.kind == "assistant":
                item = ev.assistant_text_item(entry.text, self.dialect, item_id)
            elif entry.kind == "function_call":
                item = ev.function_call_item(
                    entry.call_id, entry.name, entry.text, item_id
                )
            else:
                item = ev.function_call_output_item(entry.call_id, entry.text, item_id)
            await self._send(ev.item_create(item))
            self._remember(
                HistoryEntry(entry.kind, entry.text, entry.call_id, entry.name, item_id)
            )

    async def create_response(
        self,
        *,
        modalities: tuple[ev.Modality, ...] | None = None,
        instructions: str | None = None,
        out_of_band_input: list[dict[str, Any]] | None = None,
        cancel_active: bool = False,
    ) -> ResponseStream:
        """Ask for a response; returns its stream at once (events follow).

        The server runs one response at a time in the conversation. If one is
        still running (say, after an `error` ended ours on our side only), it
        refuses with `conversation_already_has_active_response`: the stream raises
        that ServerError, or, with `cancel_active`, the session cancels the
        running response and asks once more.
        """
        ref = f"{self._ref_prefix}-{next(self._refs)}"
        stream = ResponseStream(ref)
        request = ev.response_create(
            self.dialect,
            modalities=modalities,
            instructions=instructions,
            metadata={_REF_KEY: ref},
            out_of_band_input=out_of_band_input,
        )
        flight = _Flight(stream, request, cancel_active=cancel_active)
        self._state.pending[ref] = flight
        self._watch(flight)
        try:
            await self._send_create(flight)
        except BaseException:
            self._untrack(flight)
            raise
        return stream

    async def cancel_response(self, stream: ResponseStream | None = None) -> None:
        """Cancel a response (default: the active one); harmless if it already ended.

        A stream that failed on our side (an `error`, a deadline) may still run on
        the server: it is cancelled there too, unless its `response.done` came.
        Nothing runs once the connection is gone.
        """
        target = stream or self.active_response
        if target is None or target.done is not None or self.error is not None:
            return
        if target.response_id is None:
            if target.finished:
                return  # refused, or never heard of: nothing of it runs
            # Not started yet: cancel whatever the server has active.
            await self._send(ev.response_cancel())
            return
        await self._send(ev.response_cancel(target.response_id))

    async def delete_item(self, item_id: str) -> None:
        """Remove an item from the conversation (an answer nobody heard)."""
        await self._send(ev.item_delete(item_id))
        self.history = [entry for entry in self.history if entry.item_id != item_id]

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """Cut an assistant audio item at the played position (after barge-in)."""
        await self._send(ev.item_truncate(item_id, audio_end_ms))

    async def wait_transcript(
        self, item_id: str, *, timeout: float = REQUEST_TIMEOUT
    ) -> str:
        """Wait for the input transcription of a user audio item.

        Raises TranscriptionFailedError if the server could not transcribe it, and
        TimeoutError after `timeout` seconds without either outcome.
        """
        record = self._transcript(item_id)
        record.waiting += 1
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(record.future)
        finally:
            record.waiting -= 1
            if not record.waiting and self._state.transcripts.get(item_id) is record:
                # Asked and answered (or given up on): a late outcome starts afresh.
                del self._state.transcripts[item_id]

    async def close(self) -> None:
        """Close the websocket and stop the reader; fails anything still waiting."""
        await self.connection.close()
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_all(ConnectionLostError("The realtime session was closed"))

    # --- internals -------------------------------------------------------------------

    def _new_item_id(self) -> str:
        return f"item_{secrets.token_hex(8)}"

    def _remember(self, entry: HistoryEntry) -> None:
        """Add to the history, keeping only the most recent `history_limit`."""
        self.history.append(entry)
        if len(self.history) > self.history_limit:
            del self.history[: len(self.history) - self.history_limit]

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro, name="openai_realtime session")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_seen)

    async def _send(self, event: dict[str, Any]) -> str:
        if self.error is not None:
            raise self.error
        return await self.connection.send(event)

    def _add_waiter(self, match: Callable[[ev.ServerEvent], bool]) -> _Waiter:
        future: asyncio.Future[ev.ServerEvent] = self._loop.create_future()
        waiter = _Waiter(match, future)
        self._state.waiters.append(waiter)
        return waiter

    def _drop_waiter(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._state.waiters.remove(waiter)

    async def _request(
        self,
        event: dict[str, Any],
        match: Callable[[ev.ServerEvent], bool],
        timeout: float,
    ) -> ev.ServerEvent:
        waiter = self._add_waiter(match)
        waiter.event_id = event["event_id"] = self.connection.next_event_id()
        try:
            await self._send(event)
            async with asyncio.timeout(timeout):
                return await waiter.future
        finally:
            self._drop_waiter(waiter)

    def _transcript(self, item_id: str) -> _Transcript:
        """The transcript record of an item, made on first mention."""
        transcripts = self._state.transcripts
        record = transcripts.get(item_id)
        if record is None:
            record = transcripts[item_id] = _Transcript(self._loop.create_future())
            if self.error is not None:
                _reject(record.future, self.error)
            if len(transcripts) > TRANSCRIPT_LIMIT:
                # Forget the oldest that nobody is waiting for.
                idle = [
                    key
                    for key, old in transcripts.items()
                    if not old.waiting and key != item_id
                ]
                for key in idle[: len(transcripts) - TRANSCRIPT_LIMIT]:
                    del transcripts[key]
        return record

    # --- responses: start, watch, end ---------------------------------------------

    async def _send_create(self, flight: _Flight) -> None:
        """Send (or send again) the response.create, under a new event id."""
        assert flight.request is not None
        event = dict(flight.request)
        event_id = event["event_id"] = self.connection.next_event_id()
        if flight.event_id is not None:
            self._state.by_event.pop(flight.event_id, None)
        flight.event_id = event_id
        self._state.by_event[event_id] = flight
        await self._send(event)

    def _watch(self, flight: _Flight) -> None:
        """Start (or restart) the response's silence deadline."""
        flight.heard_at = self._loop.time()
        if flight.deadline is None:
            flight.deadline = self._loop.call_at(
                flight.heard_at + self.response_idle_timeout,
                self._check_silence,
                flight,
            )

    def _check_silence(self, flight: _Flight) -> None:
        flight.deadline = None
        if flight.stream.finished:
            return
        due = flight.heard_at + self.response_idle_timeout
        if self._loop.time() < due:  # heard since: sleep until the new deadline
            flight.deadline = self._loop.call_at(due, self._check_silence, flight)
            return
        self._end(
            flight,
            ResponseTimeoutError(
                "The server sent nothing for this response in "
                f"{self.response_idle_timeout:g} s"
            ),
        )

    def _start(self, flight: _Flight, response_id: str) -> None:
        """The server started the response (or ended it unannounced)."""
        state = self._state
        ref = flight.stream.ref
        if ref is not None and state.pending.get(ref) is flight:
            del state.pending[ref]
        if flight.event_id is not None:
            state.by_event.pop(flight.event_id, None)
            flight.event_id = None
        flight.request = None
        flight.stream.response_id = response_id
        state.streams[response_id] = flight
        flight.heard_at = self._loop.time()

    def _untrack(self, flight: _Flight) -> None:
        """Forget the response everywhere and stop its deadline."""
        state = self._state
        ref, response_id = flight.stream.ref, flight.stream.response_id
        if ref is not None and state.pending.get(ref) is flight:
            del state.pending[ref]
        if (
            flight.event_id is not None
            and state.by_event.get(flight.event_id) is flight
        ):
            del state.by_event[flight.event_id]
        if response_id is not None and state.streams.get(response_id) is flight:
            del state.streams[response_id]
        if flight.deadline is not None:
            flight.deadline.cancel()
            flight.deadline = None
        flight.request = None

    def _end(
        self,
        flight: _Flight,
        outcome: ev.ResponseDone | RealtimeError,
        done: ev.ResponseDone | None = None,
    ) -> None:
        """The response's last event: its response.done, or a failure (`done` if
        the server reported it)."""
        self._untrack(flight)
        if isinstance(outcome, ev.ResponseDone):
            flight.stream._feed(outcome)  # noqa: SLF001 - the session owns its streams
        else:
            flight.stream._fail(outcome, done)  # noqa: SLF001

    def _flight_for(
        self, response_id: str, metadata: dict[str, Any] | None
    ) -> _Flight | None:
        """The response an event belongs to: by id, else by our metadata tag."""
        state = self._state
        flight = state.streams.get(response_id)
        if flight is not None:
            return flight
        ref = _ref(metadata)
        if ref is None:
            return None
        return state.pending.get(ref) or next(
            (f for f in state.streams.values() if f.stream.ref == ref), None
        )

    async def _cancel_and_ask_again(self, flight: _Flight) -> None:
        """The server refused our request while another response ran: cancel that
        one, wait for its end (or "nothing active"), and ask once more."""
        waiter = self._add_waiter(lambda e: isinstance(e, ev.ResponseDone))
        cancel = ev.response_cancel()
        waiter.event_id = cancel["event_id"] = self.connection.next_event_id()
        try:
            await self._send(cancel)
            async with asyncio.timeout(
                min(REQUEST_TIMEOUT, self.response_idle_timeout / 2)
            ):
                await waiter.future
        except (RealtimeError, TimeoutError) as err:
            _LOGGER.debug("Cancelling the active response: %s", err)
        finally:
            self._drop_waiter(waiter)
        if flight.stream.finished:
            return
        try:
            self._watch(flight)
            await self._send_create(flight)
        except RealtimeError as err:
            self._end(flight, err)

    # --- the reader --------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                event = await self.connection.receive()
                try:
                    self._dispatch(event)
                except Exception:
                    # A bug of ours, not the server's: skip the event, keep reading.
                    _LOGGER.exception(
                        "Realtime event handling failed for %s", type(event).__name__
                    )
        except asyncio.CancelledError:
            raise
        except RealtimeError as err:
            if self._expired_message and not isinstance(err, SessionExpiredError):
                err = SessionExpiredError(self._expired_message, code=None)
            self._fail_all(err)
        except Exception as err:
            _LOGGER.exception("Realtime reader failed")
            self._fail_all(ConnectionLostError(f"Realtime reader failed: {err}"))

    def _fail_all(self, err: RealtimeError) -> None:
        if self.error is None:
            self.error = err
        state = self._state
        for waiter in state.waiters:
            _reject(waiter.future, err)
        for flight in [*state.pending.values(), *state.streams.values()]:
            self._end(flight, err)
        for record in state.transcripts.values():
            _reject(record.future, err)

    def _dispatch(self, event: ev.ServerEvent) -> None:
        if isinstance(event, ev.ErrorEvent):
            self._on_error(event)
        else:
            for waiter in self._state.waiters:
                if not waiter.future.done() and waiter.match(event):
                    waiter.future.set_result(event)
            self._route(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("Realtime event listener failed")

    def _on_error(self, event: ev.ErrorEvent) -> None:
        err = error_event_to_exception(event)
        if event.code == "session_expired":
            self._expired_message = event.message
        state = self._state
        if event.event_id:
            flight = state.by_event.get(event.event_id)
            if flight is not None:
                if event.code == _ACTIVE_RESPONSE and flight.cancel_active:
                    flight.cancel_active = False  # once
                    state.by_event.pop(event.event_id, None)
                    flight.event_id = None
                    self._spawn(self._cancel_and_ask_again(flight))
                else:
                    self._end(flight, err)
                return
            for waiter in state.waiters:
                if waiter.event_id == event.event_id and not waiter.future.done():
                    _reject(waiter.future, err)
                    return
            if event.code == _CANCEL_NOT_ACTIVE:
                _LOGGER.debug("Nothing to cancel: %s", event.message)
                return
            _LOGGER.warning("Realtime server error: %s", err)
            return
        # The error names no request of ours.
        if isinstance(err, _FAILS_ALL_RESPONSES):
            for flight in [*state.pending.values(), *state.streams.values()]:
                self._end(flight, err)
        elif isinstance(err, ServerError) and state.streams:
            self._end(next(iter(state.streams.values())), err)  # the active one
        _LOGGER.warning("Realtime server error: %s", err)

    def _route(self, event: ev.ServerEvent) -> None:
        if isinstance(event, ev.ResponseCreated):
            self._on_response_created(event)
        elif isinstance(event, ev.AudioCommitted):
            # Ours or the server's (turn detection): either way a user turn to keep.
            if not self._in_history(event.item_id):
                self._remember(HistoryEntry("user", item_id=event.item_id))
        elif isinstance(event, ev.TranscriptionCompleted):
            future = self._transcript(event.item_id).future
            if future.done():
                _LOGGER.debug("Ignoring another transcription of %s", event.item_id)
                return
            future.set_result(event.transcript)
            for entry in self.history:
                if entry.item_id == event.item_id:
                    entry.text = event.transcript
        elif isinstance(event, ev.TranscriptionFailed):
            _reject(
                self._transcript(event.item_id).future,
                TranscriptionFailedError(event.message),
            )
        elif isinstance(event, ev.OutputItemDone):
            flight = self._heard(event.response_id)
            self._on_output_item(event.item, flight.stream if flight else None)
        elif isinstance(
            event,
            ev.TextDelta
            | ev.TextDone
            | ev.TranscriptDelta
            | ev.TranscriptDone
            | ev.AudioDelta
            | ev.AudioDone
            | ev.OutputItemAdded,
        ):
            if flight := self._heard(event.response_id):
                flight.stream._feed(event)  # noqa: SLF001
        elif isinstance(event, ev.ResponseDone):
            self._on_response_done(event)

    def _heard(self, response_id: str) -> _Flight | None:
        """The response an event is for, if we follow it; its deadline restarts."""
        flight = self._state.streams.get(response_id)
        if flight is not None:
            flight.heard_at = self._loop.time()
        return flight

    def _in_history(self, item_id: str) -> bool:
        return bool(item_id) and any(e.item_id == item_id for e in self.history)

    def _on_response_created(self, event: ev.ResponseCreated) -> None:
        state = self._state
        if event.response_id in state.streams:
            _LOGGER.warning(
                "Ignoring a repeated response.created (%s)", event.response_id
            )
            return
        ref = _ref(event.metadata)
        if ref is not None:
            if (flight := state.pending.get(ref)) is not None:
                self._start(flight, event.response_id)
                return
            if ref.startswith(f"{self._ref_prefix}-"):
                # Ours, and started already (a repeat under another id) or over.
                _LOGGER.warning(
                    "Ignoring response.created %s for a request already answered",
                    event.response_id,
                )
                return
        flight = _Flight(ResponseStream(None))  # started by the server (VAD), not us
        self._start(flight, event.response_id)
        self._watch(flight)
        queue = self.server_responses
        if queue.full():
            queue.get_nowait()  # nobody reads them: keep the recent ones
        queue.put_nowait(flight.stream)

    def _on_output_item(
        self, item: dict[str, Any], stream: ResponseStream | None
    ) -> None:
        """Record a finished output item; a function call also goes to its stream."""
        item_id = str(item.get("id") or "")
        if item.get("type") == "function_call":
            call = FunctionCall(
                call_id=str(item.get("call_id") or ""),
                name=str(item.get("name") or ""),
                arguments=str(item.get("arguments") or ""),
                item_id=item_id,
            )
            if not self._in_history(item_id):
                self._remember(
                    HistoryEntry(
                        "function_call",
                        call.arguments,
                        call.call_id,
                        call.name,
                        item_id,
                    )
                )
            if stream is not None:
                stream._feed(call)  # noqa: SLF001
        elif item.get("type") == "message" and item.get("role") == "assistant":
            text = _message_text(item) or (stream.text if stream else "")
            if text and not self._in_history(item_id):
                self._remember(HistoryEntry("assistant", text=text, item_id=item_id))

    def _on_response_done(self, event: ev.ResponseDone) -> None:
        flight = self._flight_for(event.response_id, event.metadata)
        if flight is None:
            _LOGGER.debug("response.done for a response we do not follow")
            return
        if flight.stream.response_id is None:  # ended before it was announced
            self._start(flight, event.response_id)
        if event.status == "failed":
            error = event.error or {}
            failure = ServerError(
                str(error.get("message") or "The response failed"),
                code=_opt_str(error.get("code")),
                error_type=_opt_str(error.get("type")),
            )
            self._end(flight, failure, event)
            return
        # Items whose output_item.done we missed are whole in the response's output.
        for item in event.output:
            if item.get("status") in (None, "completed"):
                self._on_output_item(item, flight.stream)
        self._end(flight, event)


def _ref(metadata: dict[str, Any] | None) -> str | None:
    """Our tag in a response's metadata."""
    ref = (metadata or {}).get(_REF_KEY)
    return ref if isinstance(ref, str) and ref else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _message_text(item: dict[str, Any]) -> str:
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    texts: list[str] = []
    for part in parts:
        if isinstance(part, dict):
            text = part.get("text") or part.get("transcript")
            if isinstance(text, str):
                texts.append(text)
    return "".join(texts)
