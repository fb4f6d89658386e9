"""The conversation's item store: ordered items, client edits, and their events.

Items come from three places: committed user audio, `conversation.item.create`,
and responses' output. Each addition is announced with its predecessor as
`previous_item_id` (GA `conversation.item.added` then `.done`; beta
`conversation.item.created`); assistant output is announced when it starts and
done when it ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import copy
import hashlib
from typing import TYPE_CHECKING, Any

from . import speech
from .checks import event_fields
from .errors import (
    Json,
    ProtocolError,
    invalid_value,
    item_not_found,
    missing_parameter,
)
from .ids import new_id
from .input_audio import decode_audio
from .items import check_item, wire_item

if TYPE_CHECKING:
    from .session_config import AudioFormat, Dialect

Send = Callable[[Json], Awaitable[None]]


def audio_digest(audio: bytes) -> str:
    """A short content hash of audio bytes (the prompt cache compares by it)."""
    return hashlib.blake2b(audio, digest_size=8).hexdigest()


class Conversation:
    """The default conversation's items, in order."""

    def __init__(self, dialect: Dialect, send: Send) -> None:
        """An empty conversation that announces changes through `send`."""
        self.dialect = dialect
        self.send = send
        self.items: list[Json] = []
        self.dropped = 0  # leading items truncated out of the model's context

    def find(self, item_id: Any) -> Json | None:
        """The item with that id, if any."""
        return next((i for i in self.items if i["id"] == item_id), None)

    def previous_of(self, item: Json) -> str | None:
        """The id of the item before `item` (None at the head or when removed)."""
        for index, candidate in enumerate(self.items):
            if candidate is item:
                return self.items[index - 1]["id"] if index else None
        return None

    def last_id(self) -> str | None:
        """The id of the last item."""
        return self.items[-1]["id"] if self.items else None

    async def announce(self, item: Json) -> None:
        """A completed item joined: GA added + done, beta created."""
        wire = wire_item(item, self.dialect)
        previous = self.previous_of(item)
        if self.dialect == "ga":
            for kind in ("conversation.item.added", "conversation.item.done"):
                await self.send(
                    {"type": kind, "item": wire, "previous_item_id": previous}
                )
        else:
            await self.send(
                {
                    "type": "conversation.item.created",
                    "item": wire,
                    "previous_item_id": previous,
                }
            )

    async def output_started(self, item: Json) -> None:
        """An assistant output item joined (in progress)."""
        kind = (
            "conversation.item.added"
            if self.dialect == "ga"
            else "conversation.item.created"
        )
        await self.send(
            {
                "type": kind,
                "item": wire_item(item, self.dialect),
                "previous_item_id": self.previous_of(item),
            }
        )

    async def output_done(self, item: Json) -> None:
        """An assistant output item is finished (GA `conversation.item.done`)."""
        if self.dialect == "ga":
            await self.send(
                {
                    "type": "conversation.item.done",
                    "item": wire_item(item, self.dialect),
                    "previous_item_id": self.previous_of(item),
                }
            )

    def hear(self, item: Json, audio: bytes, rate: int) -> None:
        """Attach what the emulator hears in user audio to `item`."""
        item["_heard"] = speech.decode(audio, rate)
        item["_audio_seconds"] = len(audio) / 2 / rate
        item["_audio_digest"] = audio_digest(audio)

    # --- client events ---------------------------------------------------------------

    async def create(self, event: Json, input_format: AudioFormat) -> None:
        """`conversation.item.create`: validate, insert after `previous_item_id`."""
        event_fields(event, {"item", "previous_item_id"})
        if "item" not in event:
            raise missing_parameter("item")
        item = copy.deepcopy(check_item(event["item"], "item", self.dialect))
        if item["type"] == "function_call_output" and not any(
            i.get("type") == "function_call" and i.get("call_id") == item["call_id"]
            for i in self.items
        ):
            raise ProtocolError(
                f"No tool call found for function call output with call_id {item['call_id']}.",
                "invalid_value",
                "item.call_id",
            )
        item.setdefault("id", new_id("item_"))
        if self.find(item["id"]) is not None:
            raise invalid_value(
                "item.id", item["id"], why="An item with this id already exists."
            )
        item["object"] = "realtime.item"
        item["status"] = "completed"
        if item["type"] == "function_call":
            item.setdefault("call_id", new_id("call_", 16))
        for part in item.get("content", []):
            if part["type"] == "input_audio" and part.get("audio"):
                rate = 24000 if input_format == "pcm16" else 8000
                audio = decode_audio(part["audio"], input_format, "item.content.audio")
                self.hear(item, audio, rate)
        previous = event.get("previous_item_id")
        if previous is None:
            index = len(self.items)
        elif previous == "root":
            index = 0
        elif (found := self.find(previous)) is not None:
            index = self.items.index(found) + 1
        else:
            raise item_not_found(previous, "invalid_value", "previous_item_id")
        self.items.insert(index, item)
        await self.announce(item)

    async def truncate(self, event: Json) -> None:
        """`conversation.item.truncate`: cut an assistant item's audio, drop its text."""
        event_fields(event, {"item_id", "content_index", "audio_end_ms"})
        item = self.find(event.get("item_id"))
        if item is None or item.get("role") != "assistant":
            raise item_not_found(event.get("item_id"), "item_truncate_invalid_item_id")
        content_index = event.get("content_index", 0)
        if content_index != 0:
            raise invalid_value(
                "content_index", content_index, why="Only content index 0 has audio."
            )
        end_ms = event.get("audio_end_ms")
        length_ms = 1000 * float(item.get("_out_audio_seconds", 0.0))
        if isinstance(end_ms, bool) or not isinstance(end_ms, int) or end_ms < 0:
            raise invalid_value("audio_end_ms", end_ms)
        if end_ms > length_ms:
            raise ProtocolError(
                f"Audio content of {length_ms:.0f}ms is already shorter than {end_ms}ms",
                "invalid_value",
                "audio_end_ms",
            )
        await self._truncate(item, end_ms)

    async def truncate_played(self, item_id: str, played_ms: int) -> None:
        """WebRTC: the server truncates an interrupted answer where playback was."""
        item = self.find(item_id)
        if item is None:
            return  # not in the conversation (an out-of-band response's)
        length_ms = 1000 * float(item.get("_out_audio_seconds", 0.0))
        await self._truncate(item, max(0, min(played_ms, int(length_ms))))

    async def _truncate(self, item: Json, end_ms: int) -> None:
        item["_out_audio_seconds"] = end_ms / 1000
        for part in item.get("content", []):
            if "transcript" in part:
                part["transcript"] = ""
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": 0,
                "audio_end_ms": end_ms,
            }
        )

    async def delete(self, event: Json) -> None:
        """`conversation.item.delete`."""
        event_fields(event, {"item_id"})
        item = self.find(event.get("item_id"))
        if item is None:
            raise item_not_found(event.get("item_id"), "item_delete_invalid_item_id")
        self.items.remove(item)
        await self.send({"type": "conversation.item.deleted", "item_id": item["id"]})

    async def retrieve(self, event: Json) -> None:
        """`conversation.item.retrieve`."""
        event_fields(event, {"item_id"})
        item = self.find(event.get("item_id"))
        if item is None:
            raise item_not_found(event.get("item_id"), "item_retrieve_invalid_item_id")
        await self.send(
            {
                "type": "conversation.item.retrieved",
                "item": wire_item(item, self.dialect),
            }
        )
