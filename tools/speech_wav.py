"""Write a WAV file the local emulator "hears" as the given words.

The emulator cannot recognise a real voice: it hears the tone encoding of text in
realtime_emulator/speech.py. This writes that "speech" with silence around it, for
`tools/satellite --in question.wav`, or as a browser's microphone:

    tools/speech_wav "turn off the kitchen lights" question.wav
    chromium --use-fake-ui-for-media-stream --use-fake-device-for-media-stream \\
        --use-file-for-fake-audio-capture=question.wav http://127.0.0.1:8123
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import wave

# Run as a script, the repository is the import root (numpy is all it needs).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from realtime_emulator import speech


def speech_wav(text: str, rate: int, before: float, after: float) -> bytes:
    """PCM16 mono: `before` s of silence, `text` in tones, `after` s of silence."""
    return (
        bytes(2 * int(rate * before))
        + speech.encode(text, rate=rate)
        + bytes(2 * int(rate * after))
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and write the file."""
    parser = argparse.ArgumentParser(
        prog="tools/speech_wav", description=__doc__.splitlines()[0]
    )
    parser.add_argument("text", help="what to say, e.g. 'turn off the kitchen lights'")
    parser.add_argument("out", type=Path, help="the WAV file to write")
    parser.add_argument("--rate", type=int, default=16000, help="sample rate (Hz)")
    parser.add_argument(
        "--before", type=float, default=1.0, help="seconds of silence before"
    )
    parser.add_argument(
        "--after",
        type=float,
        default=2.0,
        help="seconds of silence after (a looping browser mic needs a pause)",
    )
    args = parser.parse_args(argv)
    heard = speech.normalise(args.text)
    if not heard:
        parser.error("nothing to say: use letters, digits, spaces and .,?!'-%:")
    with wave.open(str(args.out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(args.rate)
        wav.writeframes(speech_wav(args.text, args.rate, args.before, args.after))
    print(f"{args.out}: the emulator hears {heard!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
