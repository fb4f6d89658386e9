"""CPU time per second of audio on the realtime audio path: ours vs a naive baseline.

    python bench/audio_path.py [--seconds 60] [--repeat 5]   (or: scripts/bench audio_path)

Send path: 16 kHz PCM16 from HA in 20 ms chunks -> 100 ms frames -> 24 kHz ->
base64 -> `input_audio_buffer.append` JSON. Receive path: `response.output_audio.delta`
JSON (100 ms of 24 kHz) -> base64 decode -> 16 kHz PCM16 for the satellite. The
baseline does the same with per-sample Python (struct, linear interpolation), the
"straightforward" way. Both run in this one process, one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from pathlib import Path
import struct
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.openai_realtime.bridge.audio_in import async_stream_audio
from custom_components.openai_realtime.realtime import audio, events

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

CHUNK_MS = 20  # what HA's pipeline hands the STT entity at a time
FRAME_MS = 100  # what we send per event


def _speechlike(seconds: float, rate: int) -> bytes:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    signal = 6000 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    signal += rng.standard_normal(len(t)) * 800
    return audio.array_to_pcm16(signal)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- ours ------------------------------------------------------------------------------


def send_ours(chunks: list[bytes]) -> None:
    """Frame, resample 16k -> 24k, base64, JSON frame."""
    framer = audio.FrameChunker(audio.bytes_for_ms(FRAME_MS, 16000))
    resampler = audio.StreamResampler(16000, 24000)
    for chunk in chunks:
        for frame in framer.push(chunk):
            events.input_audio_append_frame(resampler.process(frame), "evt_x_1")


def receive_ours(events: list[str]) -> None:
    """JSON, base64 decode, resample 24k -> 16k."""
    resampler = audio.StreamResampler(24000, 16000)
    for raw in events:
        event = json.loads(raw)
        resampler.process(base64.b64decode(event["delta"]))


# --- a straightforward per-sample baseline ----------------------------------------------


def _linear_resample(data: bytes, src: int, dst: int) -> bytes:
    count = len(data) // 2
    samples = struct.unpack(f"<{count}h", data)
    out = []
    step = src / dst
    position = 0.0
    while position < count - 1:
        index = int(position)
        frac = position - index
        value = samples[index] * (1 - frac) + samples[index + 1] * frac
        out.append(int(value))
        position += step
    return struct.pack(f"<{len(out)}h", *out)


def send_baseline(chunks: list[bytes]) -> None:
    """Same path, per sample in Python."""
    pending = b""
    frame = audio.bytes_for_ms(FRAME_MS, 16000)
    for chunk in chunks:
        pending += chunk
        while len(pending) >= frame:
            part, pending = pending[:frame], pending[frame:]
            payload = base64.b64encode(_linear_resample(part, 16000, 24000)).decode()
            json.dumps({"type": "input_audio_buffer.append", "audio": payload})


def receive_baseline(events: list[str]) -> None:
    """Same path, per sample in Python."""
    for raw in events:
        _linear_resample(base64.b64decode(json.loads(raw)["delta"]), 24000, 16000)


class _WireOnly:
    """The session's part of sending audio, without a socket: the event's JSON
    frame, as RealtimeConnection.send_audio builds it."""

    async def append_audio(self, frame: bytes) -> None:
        events.input_audio_append_frame(frame, "evt_x_1")

    def add_listener(self, _listener: object) -> Callable[[], None]:
        return lambda: None


async def _mic(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def send_product(chunks: list[bytes]) -> None:
    """The integration's own STT path (bridge/audio_in.py), chunk by chunk as HA
    hands it over: loudness, blocks, resampling, the event and its JSON."""
    session: Any = _WireOnly()
    asyncio.run(async_stream_audio(session, _mic(chunks), 16000, 1))


def _cpu(fn: Callable[[], None], repeat: int) -> float:
    """The least CPU time of `repeat` runs: what the code costs, without the
    scheduler's and the machine's noise (a shared VM varies run to run)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    """Measure both paths, both implementations; print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per path")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the least counts")
    args = parser.parse_args()
    seconds = args.seconds
    mic = _chunks(_speechlike(seconds, 16000), audio.bytes_for_ms(CHUNK_MS, 16000))
    model = _chunks(_speechlike(seconds, 24000), audio.bytes_for_ms(FRAME_MS))
    deltas = [
        json.dumps(
            {
                "type": "response.output_audio.delta",
                "event_id": "event_x",
                "response_id": "resp_x",
                "item_id": "item_x",
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(chunk).decode(),
            }
        )
        for chunk in model
    ]
    rows = []
    for path, ours, baseline in (
        (
            "send (16 kHz HA -> 24 kHz event)",
            lambda: send_ours(mic),
            lambda: send_baseline(mic),
        ),
        (
            "send, the integration's STT path (audio_in)",
            lambda: send_product(mic),
            lambda: send_baseline(mic),
        ),
        (
            "receive (24 kHz event -> 16 kHz)",
            lambda: receive_ours(deltas),
            lambda: receive_baseline(deltas),
        ),
    ):
        ours()  # warm caches (filter banks, index patterns)
        ours_cpu = _cpu(ours, args.repeat) / seconds
        base_cpu = _cpu(baseline, args.repeat) / seconds
        rows.append((path, ours_cpu, base_cpu))
    print(
        f"\nAudio path, CPU-seconds per second of audio ({seconds:.0f} s each, "
        f"least of {args.repeat} runs)\n"
    )
    print("| path | ours (CPU-s/audio-s) | per-sample Python (CPU-s/audio-s) | ratio |")
    print("|---|---|---|---|")
    for path, ours_cpu, base_cpu in rows:
        print(
            f"| {path} | {ours_cpu:.6f} | {base_cpu:.6f} | {base_cpu / ours_cpu:.0f}x |"
        )
    print("\nTarget: send path <= 0.0005 CPU-s per audio-s.")


if __name__ == "__main__":
    main()
