"""Input audio transcription: what the emulator heard in a committed user item.

After `transcription_delay` the transcript streams word by word
(`…input_audio_transcription.delta`) and completes with the transcription's own
token usage; audio with nothing recognisable fails with `audio_unintelligible`.
Transcription runs beside responses, as on the real server: with the
`transcript_after_output` knob it waits for the next response's first output delta.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import math

from .errors import Json
from .usage import TOKENS_PER_SECOND_IN, text_tokens

Send = Callable[[Json], Awaitable[None]]
# How long a transcript held for `transcript_after_output` waits for a response.
OUTPUT_WAIT_LIMIT = 10.0


async def transcribe(
    send: Send,
    item: Json,
    delay: float,
    wait_for_output: Awaitable[None] | None = None,
) -> None:
    """Transcribe a committed user item (after the delay, and the first output)."""
    await asyncio.sleep(delay)
    if wait_for_output is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OUTPUT_WAIT_LIMIT):
                await wait_for_output
    heard = str(item.get("_heard", ""))
    ids = {"item_id": item["id"], "content_index": 0}
    if not heard:
        await send(
            {
                "type": "conversation.item.input_audio_transcription.failed",
                **ids,
                "error": {
                    "type": "transcription_error",
                    "code": "audio_unintelligible",
                    "message": "Audio could not be transcribed.",
                    "param": None,
                },
            }
        )
        return
    for index, word in enumerate(heard.split(" ")):
        delta = word if index == 0 else " " + word
        await send(
            {
                "type": "conversation.item.input_audio_transcription.delta",
                **ids,
                "delta": delta,
            }
        )
    audio_tokens = math.ceil(
        float(item.get("_audio_seconds", 0.0)) * TOKENS_PER_SECOND_IN
    )
    out_tokens = text_tokens(heard)
    for part in item.get("content", []):
        if part.get("type") == "input_audio":
            part["transcript"] = heard
    await send(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            **ids,
            "transcript": heard,
            "usage": {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "output_tokens": out_tokens,
                "total_tokens": audio_tokens + out_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            },
        }
    )
