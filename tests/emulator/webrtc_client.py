"""A Python WebRTC client of the Realtime API (aiortc), as a browser would be one.

It mints nothing itself: give it an ephemeral key. Its microphone plays what the
test queues (the emulator's tone "speech"), silence otherwise; the model's voice is
recorded at 24 kHz; the data channel's events are kept in order and can be waited
for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import fractions
import json
from typing import Any

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, AudioResampler

RATE = 24000
FRAME = 480  # 20 ms


class Microphone(MediaStreamTrack):
    """Plays queued PCM16 (24 kHz) in real time, silence in between."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue = bytearray()
        self._start: float | None = None
        self._samples = 0
        self.drained = asyncio.Event()

    def say(self, pcm: bytes) -> None:
        """Speak this next."""
        self.drained.clear()
        self.queue += pcm

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._samples / RATE
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        chunk = bytes(self.queue[: FRAME * 2])
        del self.queue[: FRAME * 2]
        if not self.queue:
            self.drained.set()
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk + bytes(FRAME * 2 - len(chunk)))
        frame.sample_rate = RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, RATE)
        self._samples += FRAME
        return frame


class RealtimeCall:
    """One WebRTC call to a Realtime endpoint."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.mic = Microphone()
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: list[dict[str, Any]] = []
        self.heard = bytearray()  # the model's voice, 24 kHz PCM16
        self.location: str | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.channel.on("message", self._message)
        self.channel.on("open", self._wake)

        @self.pc.on("track")
        def _track(track: Any) -> None:
            task = asyncio.get_running_loop().create_task(self._record(track))
            self._tasks.add(task)

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _message(self, message: str | bytes) -> None:
        self.events.append(json.loads(message))
        self._wake()

    async def _record(self, track: Any) -> None:
        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                self.heard += out.to_ndarray().tobytes()
            self._wake()

    async def connect(
        self, http: aiohttp.ClientSession, calls_url: str, secret: str
    ) -> aiohttp.ClientResponse:
        """Offer, POST it with the ephemeral key, set the answer (if 201)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with http.post(
            calls_url,
            data=self.pc.localDescription.sdp,
            headers={
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/sdp",
            },
        ) as response:
            body = await response.text()
            if response.status == 201:
                self.location = response.headers.get("Location")
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(body, "answer")
                )
            return response

    def send(self, **event: Any) -> None:
        """A client event on the data channel."""
        self.channel.send(json.dumps(event))

    def types(self) -> list[str]:
        """The server events' types so far."""
        return [event["type"] for event in self.events]

    async def wait_for(
        self, condition: Callable[[], Any], what: str, timeout: float = 20.0
    ) -> Any:
        """Until `condition()` is truthy, re-checked on every event and audio frame."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := condition()):
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"gave up waiting for {what}: {self.types()}"
            ) from None
        return result

    async def event(self, kind: str, after: int = 0) -> dict[str, Any]:
        """The first event of a kind at index `after` or later."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events[after:] if e["type"] == kind), None)

        event: dict[str, Any] = await self.wait_for(found, kind)
        return event

    async def close(self) -> None:
        """Hang up (the server sees the peer connection close)."""
        await self.pc.close()
        if self._tasks:
            await asyncio.wait(self._tasks)
