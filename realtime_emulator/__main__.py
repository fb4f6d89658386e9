"""Run the emulator: python -m realtime_emulator --port 8765."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .options import EmulatorOptions
from .server import RealtimeEmulator


async def _serve(args: argparse.Namespace) -> None:
    options = EmulatorOptions(
        api_keys=set(args.api_key) if args.api_key else None,
        model_delay=args.model_delay,
        transcription_delay=args.transcription_delay,
        audio_pacing=args.pacing,
        audio_speed=args.audio_speed,
    )
    emulator = RealtimeEmulator(options)
    await emulator.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main() -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m realtime_emulator")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pacing", choices=["fast", "realtime"], default="realtime")
    parser.add_argument(
        "--audio-speed",
        type=float,
        default=1.0,
        help="with --pacing realtime: seconds of audio made per second",
    )
    parser.add_argument("--model-delay", type=float, default=0.3)
    parser.add_argument("--transcription-delay", type=float, default=0.2)
    parser.add_argument("--api-key", action="append", help="accept only these keys")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
