"""A realtime session: configure it, feed it audio or text, stream its responses.

One reader task owns the websocket's receive side and routes every server event:
replies to our requests (matched by `event_id` or by kind), response events to the
`ResponseStream` they belong to (matched by the metadata tag we put on each
`response.create`), transcripts to whoever waits for them, and everything to
listeners. A lost connection fails every waiter with the same typed error, so no
caller hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
import itertools
import logging
import secrets
from typing import TYPE_CHECKING, Any, Literal

from . import events as ev
from .connection import RealtimeConnection, error_event_to_exception
from .errors import (
    ConnectionLostError,
    RealtimeError,
    ServerError,
    SessionExpiredError,
    TranscriptionFailedError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import aiohttp

    from .endpoint import Dialect, Endpoint

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
_REF_KEY = "client_ref"  # metadata key tying a response to the request that made it


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
        self.done: ev.ResponseDone | None = None
        self.item_ids: list[str] = []
        self.function_calls: list[FunctionCall] = []
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
        elif isinstance(event, ev.OutputItemAdded):
            if item_id := event.item.get("id"):
                self.item_ids.append(str(item_id))
        elif isinstance(event, FunctionCall):
            self.function_calls.append(event)
        elif isinstance(event, ev.ResponseDone):
            self.done = event
            self._finished = True
        self._queue.put_nowait(event)

    def _fail(self, err: BaseException) -> None:
        if not self._finished:
            self._finished = True
            self._queue.put_nowait(err)

    @property
    def finished(self) -> bool:
        """Whether the stream has received its last event."""
        return self._finished

    def __aiter__(self) -> AsyncIterator[ResponseEvent]:
        """Iterate the events; raises the session's error if the response breaks."""
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


@dataclass(slots=True)
class _State:
    waiters: list[_Waiter] = field(default_factory=list)
    pending: dict[str, ResponseStream] = field(default_factory=dict)  # ref -> stream
    by_event: dict[str, ResponseStream] = field(
        default_factory=dict
    )  # event_id -> stream
    streams: dict[str, ResponseStream] = field(default_factory=dict)  # response_id
    transcripts: dict[str, asyncio.Future[str]] = field(default_factory=dict)


class RealtimeSession:
    """A configured realtime session over one connection."""

    def __init__(
        self, connection: RealtimeConnection, created: ev.SessionCreated
    ) -> None:
        """Take over an open connection; prefer `RealtimeSession.connect()`."""
        self.connection = connection
        self.dialect: Dialect = connection.endpoint.dialect
        self.server_session: dict[str, Any] = created.session
        self.history: list[HistoryEntry] = []
        self.item_ids: list[str] = []
        self.responses: list[ResponseStream] = []
        self.server_responses: asyncio.Queue[ResponseStream] = asyncio.Queue()
        self.error: RealtimeError | None = None
        self._state = _State()
        self._listeners: list[Callable[[ev.ServerEvent], None]] = []
        self._refs = itertools.count(1)
        self._ref_prefix = secrets.token_hex(3)
        self._expired_message: str | None = None
        self._reader = asyncio.get_running_loop().create_task(
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
    ) -> RealtimeSession:
        """Open a connection and, if given, apply `config` before returning."""
        connection, created = await RealtimeConnection.open(
            http, endpoint, timeout=timeout
        )
        session = cls(connection, created)
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
        for stream in self._state.streams.values():
            if not stream.finished:
                return stream
        return None

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
        """Send `session.update` and wait for `session.updated` (or the error)."""
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
            await self._send(ev.input_audio_append(audio))

    async def commit(self, *, timeout: float = REQUEST_TIMEOUT) -> str:
        """Commit the input buffer as a user item; return the item id."""
        return await (await self.start_commit(timeout=timeout))

    async def start_commit(
        self, *, timeout: float = REQUEST_TIMEOUT
    ) -> asyncio.Task[str]:
        """Send the commit, then return a task resolving to the new item id.

        The commit is on the wire when this returns, so a `response.create` sent next
        answers this audio (the server handles events in order, and fixes a
        response's input when it is created) without waiting a round trip.
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

        return asyncio.get_running_loop().create_task(
            committed(), name="openai_realtime commit"
        )

    async def clear_audio(self) -> None:
        """Drop whatever is in the input buffer."""
        await self._send(ev.input_audio_clear())

    async def add_user_text(self, text: str) -> str:
        """Add a user text message to the conversation; return its item id."""
        item_id = self._new_item_id()
        await self._send(ev.item_create(ev.user_text_item(text, item_id)))
        self.item_ids.append(item_id)
        self.history.append(HistoryEntry("user", text=text, item_id=item_id))
        return item_id

    async def send_function_result(self, call_id: str, output: str) -> str:
        """Add a `function_call_output` item (follow with `create_response`)."""
        item_id = self._new_item_id()
        item = ev.function_call_output_item(call_id, output, item_id)
        await self._send(ev.item_create(item))
        self.item_ids.append(item_id)
        self.history.append(
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
            self.item_ids.append(item_id)
            self.history.append(
                HistoryEntry(entry.kind, entry.text, entry.call_id, entry.name, item_id)
            )

    async def create_response(
        self,
        *,
        modalities: tuple[ev.Modality, ...] | None = None,
        instructions: str | None = None,
        out_of_band_input: list[dict[str, Any]] | None = None,
    ) -> ResponseStream:
        """Ask for a response; returns its stream at once (events follow)."""
        ref = f"{self._ref_prefix}-{next(self._refs)}"
        stream = ResponseStream(ref)
        event = ev.response_create(
            self.dialect,
            modalities=modalities,
            instructions=instructions,
            metadata={_REF_KEY: ref},
            out_of_band_input=out_of_band_input,
        )
        event_id = event["event_id"] = self.connection.next_event_id()
        self._state.pending[ref] = stream
        self._state.by_event[event_id] = stream
        self.responses.append(stream)
        try:
            await self._send(event)
        except BaseException:
            self._state.pending.pop(ref, None)
            self._state.by_event.pop(event_id, None)
            raise
        return stream

    async def cancel_response(self, stream: ResponseStream | None = None) -> None:
        """Cancel a response (default: the active one); harmless if it already ended."""
        target = stream or self.active_response
        if target is None or target.finished:
            return
        if target.response_id is None:
            # Not started yet: cancel whatever the server has active.
            await self._send(ev.response_cancel())
            return
        await self._send(ev.response_cancel(target.response_id))

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """Cut an assistant audio item at the played position (after barge-in)."""
        await self._send(ev.item_truncate(item_id, audio_end_ms))

    async def wait_transcript(
        self, item_id: str, *, timeout: float = REQUEST_TIMEOUT
    ) -> str:
        """Wait for the input transcription of a user audio item."""
        future = self._transcript_future(item_id)
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)

    async def close(self) -> None:
        """Close the websocket and stop the reader; fails anything still waiting."""
        await self.connection.close()
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_all(ConnectionLostError("The realtime session was closed"))

    # --- internals -------------------------------------------------------------------

    def _new_item_id(self) -> str:
        return f"item_{secrets.token_hex(8)}"

    async def _send(self, event: dict[str, Any]) -> str:
        if self.error is not None:
            raise self.error
        return await self.connection.send(event)

    def _add_waiter(self, match: Callable[[ev.ServerEvent], bool]) -> _Waiter:
        future: asyncio.Future[ev.ServerEvent] = (
            asyncio.get_running_loop().create_future()
        )
        waiter = _Waiter(match, future)
        if self.error is not None:
            future.set_exception(self.error)
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

    def _transcript_future(self, item_id: str) -> asyncio.Future[str]:
        future = self._state.transcripts.get(item_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            if self.error is not None:
                future.set_exception(self.error)
                future.exception()  # mark retrieved: nobody may ever await it
            self._state.transcripts[item_id] = future
        return future

    async def _read_loop(self) -> None:
        try:
            while True:
                self._dispatch(await self.connection.receive())
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
        for waiter in self._state.waiters:
            if not waiter.future.done():
                waiter.future.set_exception(err)
        for stream in [*self._state.pending.values(), *self._state.streams.values()]:
            stream._fail(err)  # noqa: SLF001 - the session owns its streams
        for future in self._state.transcripts.values():
            if not future.done():
                future.set_exception(err)
                future.exception()  # a caller may never ask for this transcript
        self._state.pending.clear()
        self._state.streams.clear()

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
        if event.event_id:
            stream = self._state.by_event.pop(event.event_id, None)
            if stream is not None:
                if stream.ref:
                    self._state.pending.pop(stream.ref, None)
                stream._fail(err)  # noqa: SLF001
                return
            for waiter in self._state.waiters:
                if waiter.event_id == event.event_id and not waiter.future.done():
                    waiter.future.set_exception(err)
                    return
            _LOGGER.warning("Realtime server error: %s", err)
            return
        active = self.active_response
        if active is not None and isinstance(err, ServerError):
            active._fail(err)  # noqa: SLF001
        _LOGGER.warning("Realtime server error: %s", err)

    def _route(self, event: ev.ServerEvent) -> None:
        state = self._state
        if isinstance(event, ev.ResponseCreated):
            ref = (event.metadata or {}).get(_REF_KEY)
            stream = state.pending.pop(str(ref), None) if ref else None
            if stream is None:  # started by the server (VAD), not by us
                stream = ResponseStream(None)
                self.responses.append(stream)
                self.server_responses.put_nowait(stream)
            else:
                state.by_event = {
                    k: v for k, v in state.by_event.items() if v is not stream
                }
            stream.response_id = event.response_id
            state.streams[event.response_id] = stream
        elif isinstance(event, ev.AudioCommitted):
            # Ours or the server's (turn detection): either way a user turn to keep.
            if event.item_id not in self.item_ids:
                self.item_ids.append(event.item_id)
                self.history.append(HistoryEntry("user", item_id=event.item_id))
        elif isinstance(event, ev.TranscriptionCompleted):
            self._transcript_future(event.item_id).set_result(event.transcript)
            for entry in self.history:
                if entry.item_id == event.item_id:
                    entry.text = event.transcript
        elif isinstance(event, ev.TranscriptionFailed):
            future = self._transcript_future(event.item_id)
            if not future.done():
                future.set_exception(TranscriptionFailedError(event.message))
        elif isinstance(event, ev.OutputItemDone):
            self._on_output_item_done(event)
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
            if stream := state.streams.get(event.response_id):
                stream._feed(event)  # noqa: SLF001
        elif isinstance(event, ev.ResponseDone):
            self._on_response_done(event)

    def _on_output_item_done(self, event: ev.OutputItemDone) -> None:
        item = event.item
        stream = self._state.streams.get(event.response_id)
        item_id = str(item.get("id", ""))
        if item_id and item_id not in self.item_ids:
            self.item_ids.append(item_id)
        if item.get("type") == "function_call":
            call = FunctionCall(
                call_id=str(item.get("call_id", "")),
                name=str(item.get("name", "")),
                arguments=str(item.get("arguments") or ""),
                item_id=item_id,
            )
            self.history.append(
                HistoryEntry(
                    "function_call", call.arguments, call.call_id, call.name, item_id
                )
            )
            if stream:
                stream._feed(call)  # noqa: SLF001
        elif item.get("type") == "message" and item.get("role") == "assistant":
            text = _message_text(item) or (stream.text if stream else "")
            if text:
                self.history.append(
                    HistoryEntry("assistant", text=text, item_id=item_id)
                )

    def _on_response_done(self, event: ev.ResponseDone) -> None:
        stream = self._state.streams.pop(event.response_id, None)
        if stream is None:
            return
        if event.status == "failed":
            error = event.error or {}
            stream._fail(  # noqa: SLF001
                ServerError(
                    str(error.get("message") or "The response failed"),
                    code=error.get("code"),
                    error_type=error.get("type"),
                )
            )
            return
        stream._feed(event)  # noqa: SLF001


def _message_text(item: dict[str, Any]) -> str:
    parts = item.get("content") or []
    return "".join(
        str(part.get("text") or part.get("transcript") or "")
        for part in parts
        if isinstance(part, dict)
    )
