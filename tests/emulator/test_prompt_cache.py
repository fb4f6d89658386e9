"""The prompt cache compares inputs by content (usage.py), like the real server's."""

from __future__ import annotations

from typing import Any

import aiohttp

from realtime_emulator import RealtimeEmulator
from realtime_emulator.usage import PromptCache, input_units

from .client import connect

INSTRUCTIONS = (
    "You are a helpful voice assistant for a smart home. " * 40
)  # ~520 tokens
TOOLS = [
    {
        "type": "function",
        "name": f"Tool{index}",
        "description": "Does one thing in the house. " * 5,
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    for index in range(4)
]


def _user(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def test_units_by_content() -> None:
    """Same content, same units; a same-length change of instructions differs."""
    items = [_user("hello"), _user("turn on the lights")]
    assert input_units(INSTRUCTIONS, TOOLS, items) == input_units(
        INSTRUCTIONS, TOOLS, [dict(i) for i in items]
    )
    reworded = "W" + INSTRUCTIONS[1:]  # same length, different content
    cache = PromptCache()
    cache.cached(input_units(INSTRUCTIONS, TOOLS, items), 64, 0)
    assert cache.cached(input_units(reworded, TOOLS, items), 64, 0) == 0
    # Appending keeps the whole earlier input (in whole blocks).
    first = input_units(INSTRUCTIONS, TOOLS, items)
    longer = input_units(INSTRUCTIONS, TOOLS, [*items, _user("and the porch light")])
    assert cache.cached(longer, 64, 0) == len(first) // 64 * 64
    # The real server's granularity: nothing under 1024 tokens, then 128 blocks.
    cache = PromptCache()
    cache.cached(first, 128, 1024)
    assert cache.cached(longer, 128, 1024) == 0


async def test_cache_over_the_wire(
    http: aiohttp.ClientSession, emu: RealtimeEmulator
) -> None:
    """Unchanged prefix → mostly cached; appended items → the earlier input cached;
    changed instructions → nothing; a changed first tool → the instructions only."""
    client = await connect(http, emu)
    await client.send(
        type="session.update",
        session={"type": "realtime", "instructions": INSTRUCTIONS, "tools": TOOLS},
    )
    await client.next("session.updated")

    async def turn(text: str) -> dict[str, Any]:
        done = await client.say_text(text, output_modalities=["text"])
        usage: dict[str, Any] = done["response"]["usage"]
        return usage

    first = await turn("hello")
    assert first["input_token_details"]["cached_tokens"] == 0
    second = await turn("what can you do")
    details = second["input_token_details"]
    assert details["cached_tokens"] == first["input_tokens"] // 64 * 64
    assert details["cached_tokens"] / second["input_tokens"] > 0.9
    assert details["cached_tokens_details"]["text_tokens"] == details["cached_tokens"]

    await client.send(
        type="session.update",
        session={"type": "realtime", "instructions": "Be brief. " + INSTRUCTIONS},
    )
    await client.next("session.updated")
    changed = await turn("hello again")
    assert changed["input_token_details"]["cached_tokens"] == 0
    after_change = await turn("and again")
    assert after_change["input_token_details"]["cached_tokens"] > 0  # warm again

    instructions_tokens = len(input_units("Be brief. " + INSTRUCTIONS, [], []))
    renamed = [TOOLS[0] | {"name": "Renamed"}, *TOOLS[1:]]
    await client.send(
        type="session.update", session={"type": "realtime", "tools": renamed}
    )
    await client.next("session.updated")
    new_tools = await turn("one more")
    cached = new_tools["input_token_details"]["cached_tokens"]
    assert instructions_tokens - 64 < cached <= instructions_tokens
    print(  # the figures for the report
        f"first {first['input_tokens']} in / 0 cached; "
        f"second {second['input_tokens']} in / {details['cached_tokens']} cached; "
        f"instructions changed {changed['input_tokens']} in / 0 cached; "
        f"tools changed {new_tools['input_tokens']} in / {cached} cached"
    )
