"""The programs a real `wyoming-satellite` runs in tests/system/test_wyoming.py.

    mic --script SCRIPT.raw --go GO_FILE   16 kHz PCM on stdout, paced like a mic:
                                           silence until GO_FILE exists, then the
                                           script once, then silence
    wake --word "okay house"               reads 16 kHz PCM on stdin; prints the
                                           word's name each time it hears it in
                                           the emulator's tone speech
    snd --out ANSWER.raw                   writes the PCM it is played to a file

The satellite starts them with --mic-command, --wake-command and --snd-command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from realtime_emulator import speech

RATE = 16000
CHUNK = 1024  # samples: what wyoming-satellite reads from a mic command
CHUNK_BYTES = 2 * CHUNK
HEARD_WINDOW = 4 * RATE * 2  # bytes of audio the wake word is looked for in
LISTEN_EVERY = RATE // 5 * 2  # decode again after this much new audio (0.2 s)


def mic(script: Path, go: Path) -> None:
    """Silence until `go` exists, then `script`, then silence, in real time."""
    out = sys.stdout.buffer
    silence = bytes(CHUNK_BYTES)
    pending = b""
    started = time.monotonic()
    sent = 0
    while True:
        if not pending and go.exists() and script.exists():
            pending = script.read_bytes()
            script.unlink()  # once
        chunk, pending = (
            (pending[:CHUNK_BYTES], pending[CHUNK_BYTES:])
            if pending
            else (silence, b"")
        )
        out.write(chunk.ljust(CHUNK_BYTES, b"\0"))
        out.flush()
        sent += CHUNK
        ahead = started + sent / RATE - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def wake(word: str) -> None:
    """Print the wake word's name whenever its tones were heard."""
    wanted = speech.normalise(word)
    name = wanted.replace(" ", "_")
    heard = bytearray()
    fresh = 0
    while chunk := sys.stdin.buffer.read1(4096):
        heard += chunk
        fresh += len(chunk)
        if fresh < LISTEN_EVERY:
            continue
        fresh = 0
        del heard[: max(0, len(heard) - HEARD_WINDOW) // 2 * 2]
        if wanted in speech.decode(bytes(heard), RATE):
            print(name, flush=True)
            heard.clear()


def snd(out: Path) -> None:
    """Append what is played to `out`."""
    with out.open("ab") as played:
        while chunk := sys.stdin.buffer.read1(4096):
            played.write(chunk)
            played.flush()


def main() -> None:
    """Run one of the programs."""
    parser = argparse.ArgumentParser(prog="wyoming_programs.py")
    programs = parser.add_subparsers(dest="program", required=True)
    mic_args = programs.add_parser("mic")
    mic_args.add_argument("--script", type=Path, required=True)
    mic_args.add_argument("--go", type=Path, required=True)
    wake_args = programs.add_parser("wake")
    wake_args.add_argument("--word", required=True)
    snd_args = programs.add_parser("snd")
    snd_args.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        if args.program == "mic":
            mic(args.script, args.go)
        elif args.program == "wake":
            wake(args.word)
        else:
            snd(args.out)
    except (BrokenPipeError, KeyboardInterrupt):
        pass  # the satellite stopped


if __name__ == "__main__":
    main()
