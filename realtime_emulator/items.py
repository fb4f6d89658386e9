"""Conversation items: their validation, and how events and the brain see them.

Items are stored as dicts in the GA wire shape plus emulator-private keys that start
with `_` and never leave the emulator:

* `_heard`: the text the emulator "heard" in user audio (speech.py's tone encoding)
* `_audio_seconds`: length of the user audio; `_audio_digest`: a hash of its bytes
  (the prompt cache compares audio by content)
* `_out_audio_seconds`: length of the assistant audio still in the conversation
  (a truncate shortens it)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal

from . import checks
from .errors import Json, invalid_value, missing_parameter

if TYPE_CHECKING:
    from .session_config import Dialect

ITEM_TYPES = ["message", "function_call", "function_call_output"]
ROLES = ["user", "assistant", "system"]
_COMMON = {"id", "type", "object", "status"}
_KEYS = {
    "message": _COMMON | {"role", "content"},
    "function_call": _COMMON | {"name", "arguments", "call_id"},
    "function_call_output": _COMMON | {"call_id", "output"},
}
# Content part types a client may send, per dialect and role (reference §5).
_PARTS: dict[Dialect, dict[str, list[str]]] = {
    "ga": {
        "user": ["input_text", "input_audio", "input_image"],
        "system": ["input_text"],
        "assistant": ["output_text"],
    },
    "beta": {
        "user": ["input_text", "input_audio"],
        "system": ["input_text"],
        "assistant": ["text"],
    },
}
_PART_KEYS = {"type", "text", "audio", "transcript", "image_url", "detail", "id"}


def check_item(item: Any, path: str, dialect: Dialect, reference: bool = False) -> Json:
    """A client-supplied item (`reference`: `item_reference` allowed, in `input`)."""
    if reference and isinstance(item, dict) and item.get("type") == "item_reference":
        checks.obj(item, path, {"type", "id"})
        checks.string(checks.required(item, "id", path), f"{path}.id")
        return item
    if not isinstance(item, dict):
        raise missing_parameter(path)
    kind = item.get("type")
    if kind is None:
        raise missing_parameter(f"{path}.type")
    supported = [*ITEM_TYPES, "item_reference"] if reference else ITEM_TYPES
    if kind not in ITEM_TYPES:
        raise invalid_value(f"{path}.type", kind, supported)
    checks.obj(item, path, _KEYS[kind])
    if "id" in item:
        checks.string(item["id"], f"{path}.id")
    if kind == "function_call":
        checks.string(checks.required(item, "name", path), f"{path}.name")
        checks.string(checks.required(item, "arguments", path), f"{path}.arguments")
        if "call_id" in item:
            checks.string(item["call_id"], f"{path}.call_id")
    elif kind == "function_call_output":
        checks.string(checks.required(item, "call_id", path), f"{path}.call_id")
        checks.string(checks.required(item, "output", path), f"{path}.output")
    else:
        role = checks.enum(checks.required(item, "role", path), f"{path}.role", ROLES)
        allowed = _PARTS[dialect][role]
        parts = checks.array(checks.required(item, "content", path), f"{path}.content")
        for index, part in enumerate(parts):
            where = f"{path}.content[{index}]"
            checks.obj(part, where, _PART_KEYS)
            checks.enum(part.get("type"), f"{where}.type", allowed)
            for key in ("text", "audio", "transcript", "image_url"):
                if part.get(key) is not None:
                    checks.string(part[key], f"{where}.{key}")
    return item


def part_type(kind: Literal["text", "audio"], role: str, dialect: Dialect) -> str:
    """Content part type names differ by dialect (GA output_text / beta text)."""
    if role == "assistant":
        if dialect == "ga":
            return "output_text" if kind == "text" else "output_audio"
        return kind
    return "input_text" if kind == "text" else "input_audio"


def wire_item(item: Json, dialect: Dialect) -> Json:
    """An item as events carry it: no audio bytes, no emulator-private keys."""
    out = {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}
    if "content" in out:
        out["content"] = [
            {k: v for k, v in part.items() if k != "audio"} for part in out["content"]
        ]
    out.setdefault("object", "realtime.item")
    if dialect == "beta" and out.get("type") == "message":
        for part in out.get("content", []):
            if part.get("type") == "output_text":
                part["type"] = "text"
            elif part.get("type") == "output_audio":
                part["type"] = "audio"
    return out


def brain_item(item: Json) -> Json:
    """An item as the brain sees it: transcripts of audio filled in."""
    out = copy.deepcopy({k: v for k, v in item.items() if not k.startswith("_")})
    for part in out.get("content", []):
        if part.get("type") == "input_audio" and not part.get("transcript"):
            part["transcript"] = item.get("_heard", "")
    return out
