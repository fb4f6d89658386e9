"""The `scripts/develop` house with its web UI, and Debian's Chromium to talk to it.

Shared by the browser test (tests/browser/test_card.py) and the WebRTC benchmark
(bench/webrtc_turn.py). The emulator and a real `hass` process run on free loopback
ports, configured by scripts/dev_config.py exactly as scripts/develop does (with
the frontend package, scripts/install_frontend); Chromium is Debian's
(scripts/install_browser), driven by Playwright, which never downloads a browser.
Chromium's microphone is a WAV file in the emulator's tone "speech".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
import json
import os
from pathlib import Path
import shutil
from typing import Any
import wave

import aiohttp

from realtime_emulator import speech
from tests.system.house import DevHouse, start_dev_house

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CARD = "custom:openai-realtime-card"
MIC_RATE = 48000
# Chromium as the machine's probe runs it, plus a fake microphone playing a WAV
# (from when the page opens the microphone; it loops, so tests make it long enough)
# and ICE on loopback (the emulator offers a loopback candidate only).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def missing() -> str | None:
    """What this machine lacks to run a browser test, or None."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return "Debian's chromium is not installed (scripts/install_browser)"
    try:
        import hass_frontend  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as err:
        return f"{err.name} is not installed (scripts/install_frontend, requirements_test.txt)"
    return None


def write_wav(path: Path, utterances: list[tuple[float, str]], seconds: float) -> Path:
    """A mono 48 kHz WAV: each (start second, text) spoken in tones, silence around."""
    total = bytearray(int(seconds * MIC_RATE) * 2)
    for start, text in utterances:
        pcm = speech.encode(text, rate=MIC_RATE)
        offset = int(start * MIC_RATE) * 2
        total[offset : offset + len(pcm)] = pcm
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(MIC_RATE)
        wav.writeframes(bytes(total))
    return path


@contextmanager
def develop_house(tmp_path: Path, *emulator_args: str) -> Iterator[DevHouse]:
    """The develop house with its frontend, seeded and ready; stopped afterwards."""
    yield from start_dev_house(tmp_path, *emulator_args, frontend=True)


class HomeAssistantSocket:
    """Home Assistant's websocket API, with the seed's token."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = iter(range(1, 1_000_000))
        self.events: list[dict[str, Any]] = []

    async def command(self, **message: Any) -> Any:
        """Send a command; its result (events that arrive meanwhile are kept)."""
        msg_id = next(self._ids)
        await self.ws.send_json({"id": msg_id, **message})
        while True:
            reply = await self.ws.receive_json()
            if reply.get("type") == "event":
                self.events.append(reply["event"])
                continue
            if reply.get("id") == msg_id:
                assert reply.get("success"), reply
                return reply.get("result")

    async def next_event(self) -> dict[str, Any]:
        """The next event of a subscription (kept ones first)."""
        if self.events:
            return self.events.pop(0)
        while True:
            reply = await self.ws.receive_json()
            if reply.get("type") == "event":
                event: dict[str, Any] = reply["event"]
                return event


@asynccontextmanager
async def ha_socket(house: DevHouse) -> AsyncIterator[HomeAssistantSocket]:
    """An authenticated websocket to the house."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{house.url}/api/websocket") as ws,
    ):
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": house.token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        yield HomeAssistantSocket(ws)


DASHBOARD = "talk-house"


async def show_card(
    socket: HomeAssistantSocket, *more: dict[str, Any], **card: Any
) -> str:
    """A dashboard with one view showing our card (and `more` of them); its path."""
    await socket.command(
        type="lovelace/dashboards/create",
        url_path=DASHBOARD,
        title="Talk",
        mode="storage",
        show_in_sidebar=True,
        require_admin=False,
    )
    await socket.command(
        type="lovelace/config/save",
        url_path=DASHBOARD,
        config={
            "title": "Talk",
            "views": [
                {
                    "title": "Talk",
                    "path": "talk",
                    "cards": [{"type": CARD, **c} for c in (card, *more)],
                }
            ],
        },
    )
    return f"/{DASHBOARD}/talk"


async def dismiss_dialogs(page: Any) -> None:
    """Close, whenever it shows, what a fresh Home Assistant may ask first (HA
    2026.11 asks to confirm the HTTP settings of the YAML configuration)."""
    confirm = page.get_by_role("button", name="Confirm", exact=True)

    async def close(_dialog: Any) -> None:
        await confirm.click()

    await page.add_locator_handler(
        page.get_by_text("Confirm new HTTP server configuration"), close
    )


def login_script(house: DevHouse) -> str:
    """An init script that logs the frontend in with the seed's token."""
    tokens = {
        "access_token": house.token,
        "token_type": "Bearer",
        "expires_in": 10**9,
        "hassUrl": house.url,
        "clientId": f"{house.url}/",
        "expires": 4_000_000_000_000,
        "refresh_token": "",
    }
    return (
        f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"
    )


# Test instrumentation, installed before the page's scripts: every remote audio
# track is recorded (the model's voice as the browser plays it), and the levels of
# the local and remote audio are timed, as are the data channel's events, so a test
# reads what was heard and when.
RECORDER_SCRIPT = """
(() => {
  window.__voice = { chunks: [], rate: 0, mic: [], model: [], events: [] };
  const Original = window.RTCPeerConnection;
  const watch = (stream, key) => {
    const ctx = new AudioContext();
    window.__voice.rate = ctx.sampleRate;
    const source = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(512, 1, 1);
    node.onaudioprocess = (event) => {
      const data = event.inputBuffer.getChannelData(0);
      let sum = 0;
      for (const s of data) sum += s * s;
      const loud = Math.sqrt(sum / data.length) > 0.01;
      const now = performance.now();
      window.__voice[key].push([now, loud ? 1 : 0]);
      if (key === "model") window.__voice.chunks.push([now, Float32Array.from(data)]);
    };
    source.connect(node);
    node.connect(ctx.destination);
  };
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    pc.addEventListener("track", (event) => {
      watch(event.streams[0] || new MediaStream([event.track]), "model");
    });
    const createDataChannel = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (...channelArgs) => {
      const channel = createDataChannel(...channelArgs);
      channel.addEventListener("message", (message) => {
        try {
          window.__voice.events.push([performance.now(), JSON.parse(message.data).type]);
        } catch (_err) {
          // not an event
        }
      });
      return channel;
    };
    const addTrack = pc.addTrack.bind(pc);
    pc.addTrack = (track, ...streams) => {
      watch(new MediaStream([track]), "mic");
      return addTrack(track, ...streams);
    };
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  // The model's voice since `since` (performance.now() ms), as base64 PCM16.
  window.__voiceSince = (since) => {
    const parts = window.__voice.chunks.filter(([t]) => t >= since).map(([, d]) => d);
    const pcm = new Int16Array(parts.reduce((n, d) => n + d.length, 0));
    let i = 0;
    for (const d of parts) for (const s of d) pcm[i++] = Math.max(-32768, Math.min(32767, s * 32767));
    let text = "";
    const bytes = new Uint8Array(pcm.buffer);
    for (let k = 0; k < bytes.length; k += 32768) {
      text += String.fromCharCode.apply(null, bytes.subarray(k, k + 32768));
    }
    return btoa(text);
  };
})();
"""
