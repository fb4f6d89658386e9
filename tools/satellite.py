"""A command-line voice satellite for any Home Assistant instance.

Runs Assist pipelines over HA's websocket API with a long-lived token:
  --text "…"                     a typed turn (intent → TTS)
  --in question.wav --out a.wav  a spoken turn from a WAV file (no sound card needed)
  --say "…"                      a spoken turn in the emulator's tone "speech"
  (none of these)                microphone and speaker through pyaudio (optional extra)
Shows the transcript, the answer, the conversation id (for --conversation-id) and
end of speech → first audio byte: the answer is fetched as soon as HA announces it,
so that time is what a satellite would hear.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
import io
from pathlib import Path
import sys
import time
from typing import TYPE_CHECKING, Any
import wave

import aiohttp

# The protocol library imports without Home Assistant: the satellite needs only
# numpy and aiohttp. Run as a script, the repository is its import root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from custom_components.openai_realtime.realtime import audio as pcm
from realtime_emulator import speech

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PIPELINE_RATE = 16000  # what HA's pipeline takes
CHUNK_MS = 20  # satellites send about this much per message


class SatelliteError(Exception):
    """A problem the user can fix (wrong URL, bad token, missing pipeline, …)."""


@dataclass
class TurnResult:
    """What one pipeline run produced."""

    transcript: str | None = None
    answer: str | None = None
    conversation_id: str | None = None
    audio: bytes = b""
    audio_rate: int = 24000
    audio_sent: float | None = None  # the last audio chunk went out
    vad_end: float | None = None  # HA's VAD heard the end of speech
    first_audio: float | None = None  # the first byte of the answer's audio came in
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def end_of_speech(self) -> float | None:
        """When the speech ended for HA: its VAD heard it, or the audio ended."""
        ends = [t for t in (self.audio_sent, self.vad_end) if t is not None]
        return min(ends, default=None)

    @property
    def latency_ms(self) -> float | None:
        """End of speech → first audio byte."""
        if self.end_of_speech is None or self.first_audio is None:
            return None
        return (self.first_audio - self.end_of_speech) * 1000


def read_wav(path: Path) -> bytes:
    """A WAV file as 16 kHz mono PCM16, converted if it is in another rate or stereo."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, rate, channels = (
                wav.getsampwidth(),
                wav.getframerate(),
                wav.getnchannels(),
            )
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as err:
        raise SatelliteError(f"{path} is not a PCM WAV file: {err}") from err
    if width != 2:
        raise SatelliteError(
            f"{path} has {8 * width}-bit samples; 16-bit PCM is needed"
        )
    if rate not in pcm.SUPPORTED_RATES:
        raise SatelliteError(
            f"{path} is {rate} Hz; supported: {', '.join(map(str, pcm.SUPPORTED_RATES))}"
        )
    converter = pcm.StreamResampler(rate, PIPELINE_RATE, channels)
    return converter.process(frames) + converter.flush()


def wav_bytes(data: bytes, rate: int) -> bytes:
    """PCM16 mono as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data)
    return out.getvalue()


def pcm_from_wav_stream(data: bytes) -> tuple[bytes, int]:
    """PCM and rate of a (possibly streamed, size-less) WAV file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SatelliteError(
            "The TTS answer is not WAV; set the pipeline's TTS to ours"
        )
    rate = int.from_bytes(data[24:28], "little")
    start = data.find(b"data") + 8
    return data[start:], rate


class HomeAssistantClient:
    """The few websocket API calls a satellite needs."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        """Keep the base URL and token."""
        self.http = http
        self.url = url.rstrip("/")
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0

    async def connect(self) -> None:
        """Open the websocket API and authenticate."""
        ws_url = self.url.replace("http", "ws", 1) + "/api/websocket"
        try:
            self.ws = await self.http.ws_connect(
                ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=10)
            )
        except (aiohttp.ClientError, OSError) as err:
            raise SatelliteError(
                f"Cannot reach Home Assistant at {self.url}: {err}"
            ) from err
        hello = await self.ws.receive_json()
        if hello.get("type") != "auth_required":
            raise SatelliteError(f"{self.url} does not look like Home Assistant")
        await self.ws.send_json({"type": "auth", "access_token": self.token})
        reply = await self.ws.receive_json()
        if reply.get("type") != "auth_ok":
            raise SatelliteError("Home Assistant rejected the token (auth_invalid)")

    async def close(self) -> None:
        """Close the websocket, if it was opened."""
        if self.ws is not None:
            await self.ws.close()

    async def command(self, **message: Any) -> int:
        """Send a command; return its id."""
        assert self.ws is not None
        self._id += 1
        await self.ws.send_json({"id": self._id, **message})
        return self._id

    async def pipeline_id(self, name: str | None) -> str | None:
        """The id of the named pipeline (None: HA's preferred one)."""
        if name is None:
            return None
        assert self.ws is not None
        msg_id = await self.command(type="assist_pipeline/pipeline/list")
        reply = await self.ws.receive_json()
        while reply.get("id") != msg_id:
            reply = await self.ws.receive_json()
        for pipeline in reply["result"]["pipelines"]:
            if name in (pipeline["id"], pipeline["name"]):
                return str(pipeline["id"])
        raise SatelliteError(f"No pipeline named {name!r}")

    async def fetch(self, path: str) -> AsyncIterator[bytes]:
        """Stream a file Home Assistant serves (the TTS answer)."""
        url = path if path.startswith("http") else self.url + path
        async with self.http.get(
            url, headers={"Authorization": f"Bearer {self.token}"}
        ) as resp:
            if resp.status != 200:
                raise SatelliteError(f"Fetching the answer failed: HTTP {resp.status}")
            async for chunk in resp.content.iter_any():
                yield chunk


async def run_turn(
    client: HomeAssistantClient,
    *,
    text: str | None = None,
    audio: AsyncIterator[bytes] | None = None,
    pipeline: str | None = None,
    conversation_id: str | None = None,
) -> TurnResult:
    """One pipeline run from STT (audio) or intent (text) to TTS.

    The answer's audio is fetched as soon as HA announces it: at run-start when
    the pipeline streams its answer (HA 2025.7+ says `stream_response`), else at
    tts-start; HA serves it as it is made.
    """
    assert client.ws is not None
    result = TurnResult()
    run: dict[str, Any] = {"type": "assist_pipeline/run", "end_stage": "tts"}
    if (pipeline_id := await client.pipeline_id(pipeline)) is not None:
        run["pipeline"] = pipeline_id
    if conversation_id:
        run["conversation_id"] = conversation_id
    if text is not None:
        run |= {"start_stage": "intent", "input": {"text": text}}
    else:
        run |= {"start_stage": "stt", "input": {"sample_rate": PIPELINE_RATE}}
    msg_id = await client.command(**run)
    sender: asyncio.Task[None] | None = None
    fetcher: asyncio.Task[None] | None = None
    tts_url: str | None = None
    tts_started = False

    def fetch() -> asyncio.Task[None] | None:
        if fetcher is not None or tts_url is None:
            return fetcher
        return asyncio.create_task(_fetch_answer(client, tts_url, result))

    try:
        while True:
            msg = await client.ws.receive_json()
            if msg.get("id") != msg_id:
                continue
            if msg.get("type") == "result":
                if not msg.get("success"):
                    raise SatelliteError(f"Pipeline run refused: {msg.get('error')}")
                continue
            event = msg["event"]
            result.events.append(event)
            kind, data = event["type"], event.get("data") or {}
            if kind == "run-start":
                result.conversation_id = data.get("conversation_id")
                output = data.get("tts_output") or {}
                tts_url = output.get("url")
                if output.get("stream_response"):
                    fetcher = fetch()
                if audio is not None:
                    handler = data["runner_data"]["stt_binary_handler_id"]
                    sender = asyncio.create_task(
                        _send_audio(client, handler, audio, result)
                    )
            elif kind == "stt-vad-end":
                result.vad_end = time.monotonic()
            elif kind == "stt-end":
                result.transcript = data["stt_output"]["text"]
            elif kind == "intent-end":
                output = data["intent_output"]
                speech_ = output["response"]["speech"]
                result.answer = speech_.get("plain", {}).get("speech", "")
                result.conversation_id = (
                    output.get("conversation_id") or result.conversation_id
                )
            elif kind == "tts-start":
                tts_started = True
                fetcher = fetch()
            elif kind == "tts-end":
                tts_started = True
                tts_url = tts_url or data["tts_output"]["url"]
                fetcher = fetch()
            elif kind == "error":
                result.error = f"{data.get('code')}: {data.get('message')}"
            elif kind == "run-end":
                break
        if sender is not None:
            await sender
        if fetcher is not None and tts_started:
            await fetcher
    finally:
        for task in (sender, fetcher):
            if task is not None and not task.done():
                task.cancel()  # no TTS came (an error): HA would never answer it
    return result


async def _fetch_answer(
    client: HomeAssistantClient, url: str, result: TurnResult
) -> None:
    """Read the answer's WAV as HA serves it; note when its first audio came."""
    data = bytearray()
    async for chunk in client.fetch(url):
        data += chunk
        if result.first_audio is None and len(data) > _wav_data_start(data):
            result.first_audio = time.monotonic()
    result.audio, result.audio_rate = pcm_from_wav_stream(bytes(data))


def _wav_data_start(data: bytes | bytearray) -> int:
    """Where a WAV stream's samples start (a large number until its header is in)."""
    at = data.find(b"data", 12)
    return at + 8 if at >= 0 else sys.maxsize


async def _send_audio(
    client: HomeAssistantClient,
    handler: int,
    audio: AsyncIterator[bytes],
    result: TurnResult,
) -> None:
    assert client.ws is not None
    prefix = bytes([handler])
    async for chunk in audio:
        await client.ws.send_bytes(prefix + chunk)
    await client.ws.send_bytes(prefix)  # an empty chunk ends the audio
    result.audio_sent = time.monotonic()


def tone_speech(text: str, rate: int = PIPELINE_RATE) -> bytes:
    """`text` as the emulator "hears" it (realtime_emulator/speech.py's tones),
    with half a second of silence after it."""
    if not speech.normalise(text):
        raise SatelliteError(
            f"Nothing of {text!r} can be said in tones (letters, digits, .,?!'-%:)"
        )
    return speech.encode(text, rate=rate) + bytes(rate)  # 0.5 s of 16-bit silence


async def wav_chunks(data: bytes, realtime: bool) -> AsyncIterator[bytes]:
    """16 kHz PCM in 20 ms chunks, paced like a microphone if asked."""
    size = PIPELINE_RATE * 2 * CHUNK_MS // 1000
    for start in range(0, len(data), size):
        yield data[start : start + size]
        if realtime:
            await asyncio.sleep(CHUNK_MS / 1000)


async def microphone_chunks() -> AsyncIterator[bytes]:
    """16 kHz PCM from the default microphone until Enter is pressed (pyaudio)."""
    try:
        import pyaudio
    except ImportError as err:
        raise SatelliteError(
            "Microphone mode needs pyaudio: pip install -r requirements_dev.txt "
            "(or use --in/--out WAV files, or --text)"
        ) from err
    audio = pyaudio.PyAudio()
    frames = PIPELINE_RATE * CHUNK_MS // 1000
    stream = audio.open(
        format=pyaudio.paInt16,
        channels=1,
        rate=PIPELINE_RATE,
        input=True,
        frames_per_buffer=frames,
    )
    stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print("Listening… press Enter when you have finished speaking.")
    try:
        while not stop.done():
            yield await asyncio.to_thread(stream.read, frames, False)
    finally:
        stream.stop_stream()
        stream.close()
        audio.terminate()


def play(data: bytes, rate: int) -> None:
    """Play PCM16 mono on the default speaker (pyaudio)."""
    try:
        import pyaudio
    except ImportError:
        print("(install pyaudio to hear the answer, or pass --out answer.wav)")
        return
    audio = pyaudio.PyAudio()
    stream = audio.open(format=pyaudio.paInt16, channels=1, rate=rate, output=True)
    stream.write(data)
    stream.close()
    audio.terminate()


async def _run(client: HomeAssistantClient, args: argparse.Namespace) -> TurnResult:
    """The turn the arguments ask for."""
    if args.text is not None:
        return await run_turn(
            client,
            text=args.text,
            pipeline=args.pipeline,
            conversation_id=args.conversation_id,
        )
    if args.say is not None:
        chunks = wav_chunks(tone_speech(args.say), args.realtime)
    elif args.wav_in:
        chunks = wav_chunks(read_wav(args.wav_in), args.realtime)
    else:
        chunks = microphone_chunks()
    return await run_turn(
        client,
        audio=chunks,
        pipeline=args.pipeline,
        conversation_id=args.conversation_id,
    )


async def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one turn, print what happened."""
    parser = argparse.ArgumentParser(
        prog="tools/satellite", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--url", default="http://127.0.0.1:8123", help="Home Assistant URL"
    )
    parser.add_argument("--token", help="long-lived access token")
    parser.add_argument("--token-file", type=Path, help="file holding the token")
    parser.add_argument("--pipeline", help="pipeline name or id (default: preferred)")
    said = parser.add_mutually_exclusive_group()
    said.add_argument("--text", help="a typed turn")
    said.add_argument("--in", dest="wav_in", type=Path, help="WAV file to speak")
    said.add_argument(
        "--say", help="speak this in the emulator's tone speech (demo, tests)"
    )
    parser.add_argument(
        "--out", dest="wav_out", type=Path, help="write the answer here"
    )
    parser.add_argument(
        "--realtime", action="store_true", help="pace WAV input like a mic"
    )
    parser.add_argument(
        "--conversation-id",
        help="continue a conversation (the id an earlier run printed)",
    )
    args = parser.parse_args(argv)
    token = args.token or (
        args.token_file.read_text().strip() if args.token_file else None
    )
    if not token:
        parser.error("give --token or --token-file")
    try:
        async with aiohttp.ClientSession() as http:
            client = HomeAssistantClient(http, args.url, token)
            try:
                await client.connect()
                result = await _run(client, args)
            finally:
                await client.close()
    except SatelliteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result.transcript is not None:
        print(f"you said: {result.transcript}")
    if result.answer is not None:
        print(f"answer:   {result.answer}")
    if result.conversation_id:
        print(f"conversation: {result.conversation_id}")
    if result.latency_ms is not None:
        print(f"timing:   end of speech → first audio byte {result.latency_ms:.0f} ms")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    if result.audio:
        if args.wav_out:
            args.wav_out.write_bytes(wav_bytes(result.audio, result.audio_rate))
            print(
                f"audio:    {args.wav_out} ({pcm.duration_ms(len(result.audio), result.audio_rate) / 1000:.1f} s)"
            )
        elif args.text is None:
            play(result.audio, result.audio_rate)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
