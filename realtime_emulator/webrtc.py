"""WebRTC calls: the SDP offer/answer, the audio tracks and the data channel, as the
GA Realtime API serves browsers.

* `POST /v1/realtime/calls` (an ephemeral key from client_secrets.py as bearer token, body = SDP offer,
  `application/sdp`) answers `201` with the SDP answer and `Location:
  /v1/realtime/calls/rtc_…`. `POST /v1/realtime/calls/{id}/hangup` ends a call.

A call is an `EmulatorConnection` like a websocket's, with three differences, as on
the real server: client and server events travel on the data channel the client
opened (`oai-events`); input audio is the client's microphone track (Opus, decoded
and resampled to the session's 24 kHz), heard by server VAD; the model's voice is
an audio track, not `response.output_audio.delta` events. The server knows what
was played: `output_audio_buffer.started` when a response's audio starts playing,
`.stopped` when it has all played after `response.done`, and on an interruption
(speech started with `interrupt_response`, or `output_audio_buffer.clear`) the
buffer is cleared (`.cleared`) and each unplayed answer truncated where playback
stopped (`conversation.item.truncated`).

aiortc (and PyAV) are a test and development dependency of the emulator, never of
the integration: without them the emulator serves websockets, and a call is refused
with HTTP 501.

ICE stays on the address the emulator serves on (loopback by default): it offers
candidates there only and ignores connectivity checks from anywhere else, so the
media of a local call never leaves 127.0.0.1 (a browser needs
`--allow-loopback-in-peer-connection` to offer a loopback candidate). This applies
to every aiortc peer connection in the emulator's process.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
import fractions
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType

from .ids import new_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from .connection import EmulatorConnection
    from .errors import Json

_LOGGER = logging.getLogger(__name__)

RATE = 24000  # the session's PCM16 rate; Opus is resampled to and from it
FRAME_SAMPLES = 480  # 20 ms, one Opus frame
FRAME_BYTES = FRAME_SAMPLES * 2


# --- ICE on the served address only -------------------------------------------------

_ICE_HOSTS: list[str] = []  # empty: aiortc's own choice (every interface)


def restrict_ice(host: str) -> bool:
    """Let aiortc gather and accept ICE candidates on `host` only (an IP address;
    "localhost" means 127.0.0.1). False if aiortc is not installed."""
    try:
        from aioice import ice
    except ImportError:
        return False
    address = "127.0.0.1" if host == "localhost" else host
    _ICE_HOSTS[:] = [] if address in ("0.0.0.0", "::", "") else [address]
    if not getattr(ice, "_emulator_restricted", False):
        gather = ice.get_host_addresses
        receive = ice.Connection.request_received

        def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            return list(_ICE_HOSTS) or gather(use_ipv4, use_ipv6)

        def request_received(
            self: Any, message: Any, addr: tuple[str, int], protocol: Any
        ) -> None:
            if _ICE_HOSTS and addr[0] not in _ICE_HOSTS:
                return  # a check from another address: not ours to answer
            receive(self, message, addr, protocol)

        ice.get_host_addresses = host_addresses
        ice.Connection.request_received = request_received  # type: ignore[method-assign]
        ice._emulator_restricted = True  # type: ignore[attr-defined]  # noqa: SLF001
    return True


# --- the data channel as the connection's socket ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Frame:
    """One data channel message, shaped like aiohttp's websocket message."""

    data: str
    type: WSMsgType = WSMsgType.TEXT


class DataChannelSocket:
    """The `oai-events` data channel, as the socket an `EmulatorConnection` reads.

    Events sent before the client's channel is open wait for it (the session is
    created with the call, the channel opens a moment later).
    """

    def __init__(self, on_close: Callable[[], None]) -> None:
        """No channel yet; `on_close()` ends the call when the session closes."""
        self._channel: Any = None
        self._pending: list[str] = []
        self._incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self._on_close = on_close
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether the session or the call ended."""
        return self._closed

    def attach(self, channel: Any) -> None:
        """The client's data channel opened: send what waited, read what comes."""
        self._channel = channel

        def _message(message: str | bytes) -> None:
            if isinstance(message, str):
                self._incoming.put_nowait(message)

        def _closed() -> None:
            self._incoming.put_nowait(None)

        channel.on("message", _message)
        channel.on("close", _closed)
        pending, self._pending = self._pending, []
        for data in pending:
            channel.send(data)

    async def send_str(self, data: str) -> None:
        """Send one event (or keep it until the channel opens)."""
        if self._closed:
            raise ConnectionError("The call has ended")
        channel = self._channel
        if channel is None:
            self._pending.append(data)
        elif channel.readyState == "open":
            channel.send(data)
        else:
            raise ConnectionError("The data channel is closed")

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """End the session: stop reading, and end the call."""
        if self._closed:
            return False
        self._closed = True
        self._incoming.put_nowait(None)
        self._on_close()
        return True

    def end(self) -> None:
        """The call ended (hangup, or the peer went away): stop reading."""
        self._incoming.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[_Frame]:
        """The client's events, until the channel or the call closes."""
        while (data := await self._incoming.get()) is not None:
            yield _Frame(data)


# --- the model's voice -------------------------------------------------------------


@dataclass
class _Segment:
    """An assistant item's audio waiting to be played."""

    response_id: str
    item_id: str
    audio: bytearray = field(default_factory=bytearray)
    played: int = 0  # bytes of this item already played


class Playback:
    """The output audio buffer of a call: what the voice track plays next, and
    what has been played."""

    def __init__(self, send: Callable[[Json], None]) -> None:
        """Nothing queued; `send` emits `output_audio_buffer.*` events."""
        self._send = send
        self._queue: deque[_Segment] = deque()
        self._done: set[str] = set()  # responses whose generation ended
        self._dropped: set[str] = set()  # responses cleared at an interruption
        self.playing: str | None = None  # response whose audio is playing

    def play(self, response_id: str, item_id: str, pcm: bytes) -> None:
        """Queue audio of an item (appended to the item's segment if queued)."""
        if response_id in self._dropped:
            return
        last = self._queue[-1] if self._queue else None
        if last is None or last.item_id != item_id:
            last = _Segment(response_id, item_id)
            self._queue.append(last)
        last.audio += pcm

    def response_done(self, response_id: str) -> None:
        """The response's `response.done` is out: no more audio will come."""
        self._done.add(response_id)
        self._stop_if_drained()

    def next_frame(self) -> bytes:
        """The next 20 ms to play (silence when nothing is queued)."""
        out = bytearray()
        while len(out) < FRAME_BYTES and self._queue:
            head = self._queue[0]
            if self.playing != head.response_id:
                self.playing = head.response_id
                self._send(
                    {"type": "output_audio_buffer.started", "response_id": self.playing}
                )
            take = head.audio[head.played : head.played + FRAME_BYTES - len(out)]
            out += take
            head.played += len(take)
            if head.played >= len(head.audio) and (
                head.response_id in self._done or len(self._queue) > 1
            ):
                self._queue.popleft()
            elif not take:
                break  # the item's audio is still being generated
        self._stop_if_drained()
        return bytes(out) + bytes(FRAME_BYTES - len(out))

    def _stop_if_drained(self) -> None:
        playing = self.playing
        if playing is None or playing not in self._done:
            return
        if any(
            s.response_id == playing and s.played < len(s.audio) for s in self._queue
        ):
            return
        self._queue = deque(s for s in self._queue if s.response_id != playing)
        self.playing = None
        self._send({"type": "output_audio_buffer.stopped", "response_id": playing})

    def clear(self) -> tuple[list[tuple[str, int]], Json | None]:
        """Drop everything queued: the (item id, played ms) of each unplayed item,
        and the `output_audio_buffer.cleared` event to send (None: nothing queued)."""
        cut = [(s.item_id, s.played * 1000 // (2 * RATE)) for s in self._queue]
        response_id = self.playing or (
            self._queue[0].response_id if self._queue else None
        )
        self._dropped.update(s.response_id for s in self._queue)
        self._queue.clear()
        self.playing = None
        if response_id is None:
            return cut, None
        return cut, {"type": "output_audio_buffer.cleared", "response_id": response_id}


def _voice_track(playback: Playback) -> Any:
    """An aiortc audio track that plays `playback` in real time, 20 ms a frame."""
    from aiortc import MediaStreamTrack
    from av import AudioFrame

    class VoiceTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._start: float | None = None
            self._samples = 0

        async def recv(self) -> AudioFrame:
            loop = asyncio.get_running_loop()
            if self._start is None:
                self._start = loop.time()
            due = self._start + self._samples / RATE
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
            frame.planes[0].update(playback.next_frame())
            frame.sample_rate = RATE
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, RATE)
            self._samples += FRAME_SAMPLES
            return frame

    return VoiceTrack()


# --- a call ------------------------------------------------------------------------


class WebRTCCall:
    """One call: the peer connection and the realtime session it carries."""

    def __init__(self, make_connection: Callable[[WebRTCCall], EmulatorConnection]):
        """`make_connection(call)` builds the session on this call's socket."""
        from aiortc import RTCPeerConnection

        self.id = new_id("rtc_")
        self.pc = RTCPeerConnection()
        self.socket = DataChannelSocket(self._closed_by_session)
        self.playback = Playback(self._send_soon)
        self.connection = make_connection(self)
        self.started = time.monotonic()
        self._closing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.pc.addTrack(_voice_track(self.playback))

        @self.pc.on("datachannel")
        def _datachannel(channel: Any) -> None:
            self.socket.attach(channel)

        @self.pc.on("track")
        def _track(track: Any) -> None:
            if track.kind == "audio":
                self.connection.transport.spawn(self._listen(track))

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.hang_up()

    async def answer(self, offer_sdp: str) -> str:
        """Set the client's offer; the SDP answer (ICE gathered)."""
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    def start(self) -> asyncio.Task[None]:
        """Run the session (greeting first) until the call ends."""
        task = asyncio.get_running_loop().create_task(self.connection.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- what the session's PlayedAudio asks -------------------------------------------

    def play(self, response_id: str, item_id: str, pcm: bytes) -> None:
        """The model's voice: queue it on the track."""
        self.playback.play(response_id, item_id, pcm)

    def response_done(self, response_id: str) -> None:
        """A response ended: once its audio has played, the buffer stops."""
        self.playback.response_done(response_id)

    async def interrupt(self) -> None:
        """Clear the output buffer; truncate each unplayed answer where it stopped.

        Waits for a cancelled response to finish first: its items are final then.
        """
        responder = self.connection.responder
        if (active := responder.active) is not None and active.cancel_reason is None:
            active.cancel("client_cancelled")
        cuts, cleared = self.playback.clear()
        if cleared is not None:
            await self.connection.send(cleared)
        cancelled = {
            r.task for r in responder.responses if r.running and r.task is not None
        }
        if cancelled:
            await asyncio.wait(cancelled)
        for item_id, played_ms in cuts:
            await self.connection.conversation.truncate_played(item_id, played_ms)

    # --- input audio -------------------------------------------------------------------

    async def _listen(self, track: Any) -> None:
        """The microphone: decode, resample to the session's rate, hear it."""
        from aiortc.mediastreams import MediaStreamError
        from av import AudioResampler

        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                pcm = out.to_ndarray().tobytes()
                await self.connection.append_audio(pcm)

    # --- ending ------------------------------------------------------------------------

    def _send_soon(self, event: Json) -> None:
        task = self.connection.transport.spawn(self.connection.send(event))
        del task  # the connection's transport owns it

    def _closed_by_session(self) -> None:
        self.hang_up()

    def hang_up(self) -> None:
        """End the call (idempotent); `closed()` waits for it."""
        if self._closing is None:
            self.socket.end()
            self._closing = asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        await self.pc.close()
        await self.connection.close()

    async def closed(self) -> None:
        """Hang up and wait until everything of the call has stopped."""
        self.hang_up()
        assert self._closing is not None
        await asyncio.shield(self._closing)
        if self._tasks:
            await asyncio.wait(set(self._tasks))
