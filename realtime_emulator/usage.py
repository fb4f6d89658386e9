"""Token usage of a response, and the prompt cache that makes follow-ups cheap.

Every response reads its whole input again: instructions, tools, then the context
items in order. The emulator turns that input into a sequence of token-ish units:

* text: the serialised text cut into 4-character pieces (about one token each);
  instructions, the tool definitions (JSON), and per item its role and text, a
  function call's name and arguments, or a function result's output
* audio: user audio at 10 tokens a second, the model's own earlier audio at 20
  (the rates it is billed at), each unit named by a hash of the audio's content, so
  the same audio is the same units and a truncated answer is a prefix of itself

`cached_tokens` is the longest common prefix, unit by unit, of this input with an
earlier response's input in the same session, in whole blocks of
`cache_block_tokens` and only from `cache_min_tokens` on. So appending items keeps
the cache, while changing the instructions or the tools loses everything after the
change (a change at the start loses it all), as on the real server.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .errors import Json
    from .session_config import Dialect

TOKENS_PER_SECOND_IN = 10  # user audio: 1 token per 100 ms
TOKENS_PER_SECOND_OUT = 20  # model audio: 1 token per 50 ms
CHARS_PER_TOKEN = 4
REMEMBERED_INPUTS = 16

Unit = tuple[Literal["text", "audio"], str]


def text_tokens(text: str) -> int:
    """About one token per four characters."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _text_units(text: str) -> list[Unit]:
    return [
        ("text", text[start : start + CHARS_PER_TOKEN])
        for start in range(0, len(text), CHARS_PER_TOKEN)
    ]


def _audio_units(digest: str, tokens: int) -> list[Unit]:
    return [("audio", f"{digest}:{index}") for index in range(tokens)]


def item_units(item: Json) -> list[Unit]:
    """The units one context item adds to a response's input."""
    kind = item.get("type")
    if kind == "function_call":
        return _text_units(f"call {item.get('name', '')}({item.get('arguments', '')})")
    if kind == "function_call_output":
        return _text_units(f"result {item.get('output', '')}")
    texts = [
        str(part.get("text") or "")
        for part in item.get("content") or []
        if part.get("type") in ("input_text", "output_text", "text")
    ]
    units = _text_units(f"{item.get('role', '')}: {' '.join(texts)}")
    if seconds := float(item.get("_audio_seconds", 0.0)):
        digest = str(item.get("_audio_digest", item.get("id")))
        units += _audio_units(digest, math.ceil(seconds * TOKENS_PER_SECOND_IN))
    if seconds := float(item.get("_out_audio_seconds", 0.0)):
        digest = str(item.get("_audio_digest", item.get("id")))
        units += _audio_units(digest, math.ceil(seconds * TOKENS_PER_SECOND_OUT))
    return units


def input_units(instructions: str, tools: list[Json], items: list[Json]) -> list[Unit]:
    """A response's whole input: instructions, tools, then items in order."""
    units = _text_units(instructions)
    units += _text_units(json.dumps(tools, sort_keys=True)) if tools else []
    for item in items:
        units += item_units(item)
    return units


def _common_prefix(a: list[Unit], b: list[Unit]) -> int:
    shared = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        shared += 1
    return shared


class PromptCache:
    """The inputs of a session's earlier responses, to find cached prefixes."""

    def __init__(self) -> None:
        """No response yet: nothing cached."""
        self.inputs: list[list[Unit]] = []

    def cached(self, units: list[Unit], block: int, minimum: int) -> int:
        """Units of `units` served from cache (then remember `units`)."""
        shared = max((_common_prefix(units, seen) for seen in self.inputs), default=0)
        self.inputs = [*self.inputs[-(REMEMBERED_INPUTS - 1) :], units]
        if shared < max(minimum, 1):
            return 0
        return (shared // max(block, 1)) * max(block, 1)


def usage(
    dialect: Dialect, units: list[Unit], cached: int, out_text: int, out_audio: int
) -> Json:
    """The `usage` object of `response.done`."""
    in_audio = sum(1 for kind, _ in units if kind == "audio")
    in_text = len(units) - in_audio
    cached_audio = sum(1 for kind, _ in units[:cached] if kind == "audio")
    details: Json = {
        "text_tokens": in_text,
        "audio_tokens": in_audio,
        "cached_tokens": cached,
    }
    if dialect == "ga":
        details["image_tokens"] = 0
        details["cached_tokens_details"] = {
            "text_tokens": cached - cached_audio,
            "audio_tokens": cached_audio,
            "image_tokens": 0,
        }
    total_in = len(units)
    return {
        "total_tokens": total_in + out_text + out_audio,
        "input_tokens": total_in,
        "output_tokens": out_text + out_audio,
        "input_token_details": details,
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }
