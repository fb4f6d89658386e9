"""Client event builders and server event parsers for both Realtime dialects.

GA (`gpt-realtime`, no beta header) and beta (`OpenAI-Beta: realtime=v1`) differ in
the session shape and in a few event names (`response.output_audio.delta` vs
`response.audio.delta`, `conversation.item.added`/`.done` vs `.created`). Everything
above this module sees one small set of typed events instead.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import json
import logging
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .endpoint import Dialect

_LOGGER = logging.getLogger(__name__)

JsonDict = dict[str, Any]
Modality = Literal["text", "audio"]
AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]

# --------------------------------------------------------------------------------------
# Session configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Server-side turn detection; `None` in SessionConfig switches it off."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    eagerness: Literal["auto", "low", "medium", "high"] | None = None
    create_response: bool = True
    interrupt_response: bool = True

    def to_wire(self) -> JsonDict:
        """Return the turn_detection object (same shape in both dialects)."""
        wire: JsonDict = {
            "type": self.type,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }
        if self.type == "semantic_vad":
            if self.eagerness is not None:
                wire["eagerness"] = self.eagerness
            return wire
        for key in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
            if (value := getattr(self, key)) is not None:
                wire[key] = value
        return wire


@dataclass(frozen=True, slots=True)
class FunctionTool:
    """A function the model may call; `parameters` is a JSON schema object."""

    name: str
    description: str
    parameters: Mapping[str, Any]

    def to_wire(self) -> JsonDict:
        """Return the tool definition (same shape in both dialects)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True, slots=True)
class RetentionRatio:
    """GA context truncation that keeps a fraction of the conversation.

    When the context is full, the server drops the oldest items until only
    `retention_ratio` (0-1) of the tokens after the instructions remain: fewer,
    larger cuts than "auto", so the cached prefix survives more turns.
    `post_instructions_tokens` lowers the limit at which truncation starts.
    """

    retention_ratio: float
    post_instructions_tokens: int | None = None

    def to_wire(self) -> JsonDict:
        """Return the `truncation` object."""
        wire: JsonDict = {
            "type": "retention_ratio",
            "retention_ratio": self.retention_ratio,
        }
        if self.post_instructions_tokens is not None:
            wire["token_limits"] = {"post_instructions": self.post_instructions_tokens}
        return wire


# What the GA server does when the conversation outgrows the model's context:
# "auto" drops the oldest items as needed (the default), "disabled" drops nothing
# and answers with an error instead, a RetentionRatio drops more at once.
Truncation = Literal["auto", "disabled"] | RetentionRatio


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What we configure on a session; translated to the dialect's wire shape."""

    instructions: str | None = None
    voice: str | None = None
    output_modalities: tuple[Modality, ...] = ("audio",)
    audio_format: AudioFormat = "pcm16"
    transcription_model: str | None = None
    # ISO-639-1 hint ("en", "nl"): better and faster transcripts than auto-detection.
    transcription_language: str | None = None
    turn_detection: TurnDetection | None = None
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: str = "auto"
    max_output_tokens: int | Literal["inf"] | None = None
    # Beta only: GA has no temperature, so it is left out of GA updates.
    temperature: float | None = None
    # GA only (beta has no such setting); None leaves the server's choice ("auto").
    truncation: Truncation | None = None


_GA_FORMATS: dict[AudioFormat, JsonDict] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}


def _transcription(config: SessionConfig) -> JsonDict | None:
    """Input transcription settings (same shape in both dialects); None = off."""
    if not config.transcription_model:
        return None
    wire: JsonDict = {"model": config.transcription_model}
    if config.transcription_language:
        wire["language"] = config.transcription_language
    return wire


def _session_ga(config: SessionConfig) -> JsonDict:
    audio_in: JsonDict = {
        "format": _GA_FORMATS[config.audio_format],
        "turn_detection": config.turn_detection.to_wire()
        if config.turn_detection
        else None,
        "transcription": _transcription(config),
    }
    audio_out: JsonDict = {"format": _GA_FORMATS[config.audio_format]}
    if config.voice:
        audio_out["voice"] = config.voice
    session: JsonDict = {
        "type": "realtime",
        # GA allows exactly one output modality; audio output carries a transcript.
        "output_modalities": ["audio"]
        if "audio" in config.output_modalities
        else ["text"],
        "audio": {"input": audio_in, "output": audio_out},
        "tools": [tool.to_wire() for tool in config.tools],
        "tool_choice": config.tool_choice,
    }
    if config.instructions is not None:
        session["instructions"] = config.instructions
    if config.max_output_tokens is not None:
        session["max_output_tokens"] = config.max_output_tokens
    if isinstance(config.truncation, RetentionRatio):
        session["truncation"] = config.truncation.to_wire()
    elif config.truncation is not None:
        session["truncation"] = config.truncation
    return session


def _session_beta(config: SessionConfig) -> JsonDict:
    session: JsonDict = {
        "modalities": ["text", "audio"]
        if "audio" in config.output_modalities
        else ["text"],
        "input_audio_format": config.audio_format,
        "output_audio_format": config.audio_format,
        "turn_detection": config.turn_detection.to_wire()
        if config.turn_detection
        else None,
        "input_audio_transcription": _transcription(config),
        "tools": [tool.to_wire() for tool in config.tools],
        "tool_choice": config.tool_choice,
    }
    if config.voice:
        session["voice"] = config.voice
    if config.instructions is not None:
        session["instructions"] = config.instructions
    if config.max_output_tokens is not None:
        session["max_response_output_tokens"] = config.max_output_tokens
    if config.temperature is not None:
        session["temperature"] = config.temperature
    return session


# --------------------------------------------------------------------------------------
# Client events (the caller's connection assigns `event_id`)
# --------------------------------------------------------------------------------------


def session_update(config: SessionConfig, dialect: Dialect) -> JsonDict:
    """Build `session.update` for the dialect."""
    session = _session_ga(config) if dialect == "ga" else _session_beta(config)
    return {"type": "session.update", "session": session}


def session_voice(session: Mapping[str, Any], dialect: Dialect) -> str | None:
    """The voice of a session object as the server reported it."""
    if dialect == "ga":
        voice = _mapping(_mapping(session.get("audio")).get("output")).get("voice")
    else:
        voice = session.get("voice")
    return voice if isinstance(voice, str) else None


def input_audio_append_frame(audio: bytes, event_id: str) -> str:
    """`input_audio_buffer.append` (audio in the session's input format) as its
    JSON text, written directly.

    Audio appends are nearly all the traffic a session sends (ten per second of
    speech). Base64 needs no JSON escaping, so the JSON encoder's scan of every
    character (a third of the send path's CPU) buys nothing here.
    """
    payload = base64.b64encode(audio).decode("ascii")
    return (
        '{"type":"input_audio_buffer.append","audio":"'
        f'{payload}","event_id":{json.dumps(event_id)}}}'
    )


def input_audio_commit() -> JsonDict:
    """Build `input_audio_buffer.commit`."""
    return {"type": "input_audio_buffer.commit"}


def input_audio_clear() -> JsonDict:
    """Build `input_audio_buffer.clear`."""
    return {"type": "input_audio_buffer.clear"}


def user_text_item(text: str, item_id: str | None = None) -> JsonDict:
    """A user message with text (same shape in both dialects)."""
    return _input_text_item("user", text, item_id)


def system_text_item(text: str, item_id: str | None = None) -> JsonDict:
    """A system message with text: context for the next response, appended to the
    conversation instead of changing the session's instructions."""
    return _input_text_item("system", text, item_id)


def _input_text_item(role: str, text: str, item_id: str | None) -> JsonDict:
    item: JsonDict = {
        "type": "message",
        "role": role,
        "content": [{"type": "input_text", "text": text}],
    }
    if item_id:
        item["id"] = item_id
    return item


def assistant_text_item(
    text: str, dialect: Dialect, item_id: str | None = None
) -> JsonDict:
    """An assistant message with text, used to replay history after a reconnect."""
    part_type = "output_text" if dialect == "ga" else "text"
    item: JsonDict = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": part_type, "text": text}],
    }
    if item_id:
        item["id"] = item_id
    return item


def function_call_item(
    call_id: str, name: str, arguments: str, item_id: str | None = None
) -> JsonDict:
    """A function call made by the model (for replay)."""
    item: JsonDict = {
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }
    if item_id:
        item["id"] = item_id
    return item


def function_call_output_item(
    call_id: str, output: str, item_id: str | None = None
) -> JsonDict:
    """The result of a function call, as the string the model will read."""
    item: JsonDict = {
        "type": "function_call_output",
        "call_id": call_id,
        "output": output,
    }
    if item_id:
        item["id"] = item_id
    return item


def item_create(item: JsonDict, previous_item_id: str | None = None) -> JsonDict:
    """Build `conversation.item.create`."""
    event: JsonDict = {"type": "conversation.item.create", "item": item}
    if previous_item_id is not None:
        event["previous_item_id"] = previous_item_id
    return event


def item_delete(item_id: str) -> JsonDict:
    """Build `conversation.item.delete` (an answer the user never heard)."""
    return {"type": "conversation.item.delete", "item_id": item_id}


def item_truncate(item_id: str, audio_end_ms: int, content_index: int = 0) -> JsonDict:
    """Build `conversation.item.truncate` (after barge-in, at the played position)."""
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": max(0, int(audio_end_ms)),
    }


def response_create(
    dialect: Dialect,
    *,
    modalities: tuple[Modality, ...] | None = None,
    instructions: str | None = None,
    metadata: Mapping[str, str] | None = None,
    out_of_band_input: list[JsonDict] | None = None,
) -> JsonDict:
    """Build `response.create` with per-response overrides.

    `out_of_band_input` makes a response outside the conversation
    (`conversation: "none"`) over just those items: nothing is added to the
    session's context (used to read arbitrary text aloud).
    """
    response: JsonDict = {}
    if out_of_band_input is not None:
        response["conversation"] = "none"
        response["input"] = out_of_band_input
    if modalities is not None:
        audio = "audio" in modalities
        if dialect == "ga":
            response["output_modalities"] = ["audio"] if audio else ["text"]
        else:
            response["modalities"] = ["text", "audio"] if audio else ["text"]
    if instructions is not None:
        response["instructions"] = instructions
    if metadata:
        response["metadata"] = dict(metadata)
    event: JsonDict = {"type": "response.create"}
    if response:
        event["response"] = response
    return event


def response_cancel(response_id: str | None = None) -> JsonDict:
    """Build `response.cancel`."""
    event: JsonDict = {"type": "response.cancel"}
    if response_id:
        event["response_id"] = response_id
    return event


# --------------------------------------------------------------------------------------
# Server events, normalised
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one response (`response.done.response.usage`)."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    cached_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """All tokens billed for the response."""
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        """Plain dict for events, diagnostics and sensors."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {
            "total_tokens": self.total_tokens
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> Usage | None:
        """Parse leniently: the beta SDK and spec disagree on the detail fields."""
        if not isinstance(data, Mapping):
            return None
        inp = _mapping(data.get("input_token_details"))
        cached = _mapping(inp.get("cached_tokens_details"))
        out = _mapping(data.get("output_token_details"))
        return cls(
            input_tokens=_int(data.get("input_tokens")),
            output_tokens=_int(data.get("output_tokens")),
            input_text_tokens=_int(inp.get("text_tokens")),
            input_audio_tokens=_int(inp.get("audio_tokens")),
            cached_tokens=_int(inp.get("cached_tokens")),
            cached_text_tokens=_int(cached.get("text_tokens")),
            cached_audio_tokens=_int(cached.get("audio_tokens")),
            output_text_tokens=_int(out.get("text_tokens")),
            output_audio_tokens=_int(out.get("audio_tokens")),
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class SessionCreated:
    """First event of every session: the server's default configuration."""

    session: JsonDict


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    """The effective configuration after a `session.update`."""

    session: JsonDict


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An `error` event; `event_id` is the client event that caused it, if known."""

    message: str
    code: str | None = None
    type: str | None = None
    param: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Server VAD heard speech start (ms from the start of the session's audio)."""

    audio_start_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Server VAD heard speech stop."""

    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class AudioCommitted:
    """The input buffer became a user item."""

    item_id: str
    previous_item_id: str | None


@dataclass(frozen=True, slots=True)
class AudioCleared:
    """The input buffer was cleared."""


@dataclass(frozen=True, slots=True)
class ItemAdded:
    """An item entered the conversation (GA `added`, beta `created`)."""

    item: JsonDict
    previous_item_id: str | None

    @property
    def item_id(self) -> str:
        """The item's id."""
        return str(self.item.get("id", ""))


@dataclass(frozen=True, slots=True)
class ItemDone:
    """An item is complete (GA only)."""

    item: JsonDict


@dataclass(frozen=True, slots=True)
class ItemTruncated:
    """An assistant audio item was cut at `audio_end_ms`."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class ItemDeleted:
    """An item was removed from the conversation."""

    item_id: str


@dataclass(frozen=True, slots=True)
class TranscriptionDelta:
    """Part of the transcript of a user audio item."""

    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TranscriptionCompleted:
    """The whole transcript of a user audio item."""

    item_id: str
    transcript: str
    usage: JsonDict | None = None


@dataclass(frozen=True, slots=True)
class TranscriptionFailed:
    """The user audio item could not be transcribed."""

    item_id: str
    message: str
    code: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    """A response started."""

    response_id: str
    metadata: JsonDict | None = None


@dataclass(frozen=True, slots=True)
class OutputItemAdded:
    """A response started an output item (message or function call)."""

    response_id: str
    output_index: int
    item: JsonDict


@dataclass(frozen=True, slots=True)
class OutputItemDone:
    """A response finished an output item; function calls carry name + arguments."""

    response_id: str
    output_index: int
    item: JsonDict


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Text output (text modality)."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TextDone:
    """Text output finished."""

    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class AudioDelta:
    """Output audio, already decoded from base64 (session output format)."""

    response_id: str
    item_id: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class AudioDone:
    """Output audio finished."""

    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """Transcript of the output audio."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TranscriptDone:
    """Transcript of the output audio finished."""

    response_id: str
    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True)
class FunctionArgumentsDone:
    """A function call's arguments are complete (GA also names the function)."""

    response_id: str
    item_id: str
    call_id: str
    arguments: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """A response ended, whatever the outcome."""

    response_id: str
    status: str
    status_details: JsonDict | None
    output: list[JsonDict]
    usage: Usage | None
    metadata: JsonDict | None = None

    @property
    def reason(self) -> str | None:
        """Why it ended early (turn_detected, client_cancelled, max_output_tokens…)."""
        details = self.status_details or {}
        reason = details.get("reason")
        return str(reason) if reason else None

    @property
    def error(self) -> JsonDict | None:
        """The error of a failed response."""
        details = self.status_details or {}
        error = details.get("error")
        return error if isinstance(error, dict) else None


@dataclass(frozen=True, slots=True)
class RateLimitsUpdated:
    """Current rate limits."""

    rate_limits: list[JsonDict] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A known event this library has no use for (content parts, deltas of args…)."""

    type: str


ServerEvent = (
    SessionCreated
    | SessionUpdated
    | ErrorEvent
    | SpeechStarted
    | SpeechStopped
    | AudioCommitted
    | AudioCleared
    | ItemAdded
    | ItemDone
    | ItemTruncated
    | ItemDeleted
    | TranscriptionDelta
    | TranscriptionCompleted
    | TranscriptionFailed
    | ResponseCreated
    | OutputItemAdded
    | OutputItemDone
    | TextDelta
    | TextDone
    | AudioDelta
    | AudioDone
    | TranscriptDelta
    | TranscriptDone
    | FunctionArgumentsDone
    | ResponseDone
    | RateLimitsUpdated
    | OtherEvent
)

# Events we parse into OtherEvent: valid, but nothing above this layer needs them.
_OTHER = frozenset(
    {
        "conversation.created",
        "conversation.item.retrieved",
        "conversation.item.input_audio_transcription.segment",
        "response.content_part.added",
        "response.content_part.done",
        "response.function_call_arguments.delta",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "transcription_session.created",
        "transcription_session.updated",
    }
)


def _s(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise KeyError(key)
    return value


def _opt_s(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _i(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise KeyError(key)
    return value


def _d(data: Mapping[str, Any], key: str) -> JsonDict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise KeyError(key)
    return value


def _dicts(data: Mapping[str, Any], key: str) -> list[JsonDict]:
    """A list field's objects (other elements are dropped); absent or null = []."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise KeyError(key)
    return [element for element in value if isinstance(element, dict)]


def _b64(data: Mapping[str, Any], key: str) -> bytes:
    try:
        return base64.b64decode(_s(data, key), validate=True)
    except ValueError as err:  # bad padding or alphabet (binascii.Error), non-ASCII
        raise KeyError(key) from err


def _error(d: Mapping[str, Any]) -> ErrorEvent:
    err = _d(d, "error")
    return ErrorEvent(
        message=str(err.get("message") or "unknown error"),
        code=_opt_s(err, "code"),
        type=_opt_s(err, "type"),
        param=_opt_s(err, "param"),
        event_id=_opt_s(err, "event_id"),
    )


def _response_done(d: Mapping[str, Any]) -> ResponseDone:
    resp = _d(d, "response")
    output = resp.get("output")
    details = resp.get("status_details")
    metadata = resp.get("metadata")
    return ResponseDone(
        response_id=_s(resp, "id"),
        status=str(resp.get("status") or "completed"),
        status_details=details if isinstance(details, dict) else None,
        output=[o for o in output if isinstance(o, dict)]
        if isinstance(output, list)
        else [],
        usage=Usage.from_wire(resp.get("usage")),
        metadata=metadata if isinstance(metadata, dict) else None,
    )


def _response_created(d: Mapping[str, Any]) -> ResponseCreated:
    resp = _d(d, "response")
    metadata = resp.get("metadata")
    return ResponseCreated(
        _s(resp, "id"), metadata if isinstance(metadata, dict) else None
    )


def _transcription_failed(d: Mapping[str, Any]) -> TranscriptionFailed:
    err = d.get("error")
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or "transcription failed")
    return TranscriptionFailed(_s(d, "item_id"), message, _opt_s(err, "code"))


def _ids(d: Mapping[str, Any]) -> tuple[str, str]:
    return _s(d, "response_id"), _s(d, "item_id")


_Parser = Callable[[Mapping[str, Any]], ServerEvent]

# One table for both dialects: the renamed events simply have two entries.
_PARSERS: dict[str, _Parser] = {
    "session.created": lambda d: SessionCreated(_d(d, "session")),
    "session.updated": lambda d: SessionUpdated(_d(d, "session")),
    "error": _error,
    "input_audio_buffer.speech_started": lambda d: SpeechStarted(
        _i(d, "audio_start_ms"), _s(d, "item_id")
    ),
    "input_audio_buffer.speech_stopped": lambda d: SpeechStopped(
        _i(d, "audio_end_ms"), _s(d, "item_id")
    ),
    "input_audio_buffer.committed": lambda d: AudioCommitted(
        _s(d, "item_id"), _opt_s(d, "previous_item_id")
    ),
    "input_audio_buffer.cleared": lambda d: AudioCleared(),
    "conversation.item.created": lambda d: ItemAdded(
        _d(d, "item"), _opt_s(d, "previous_item_id")
    ),
    "conversation.item.added": lambda d: ItemAdded(
        _d(d, "item"), _opt_s(d, "previous_item_id")
    ),
    "conversation.item.done": lambda d: ItemDone(_d(d, "item")),
    "conversation.item.truncated": lambda d: ItemTruncated(
        _s(d, "item_id"), _i(d, "audio_end_ms")
    ),
    "conversation.item.deleted": lambda d: ItemDeleted(_s(d, "item_id")),
    "conversation.item.input_audio_transcription.delta": lambda d: TranscriptionDelta(
        _s(d, "item_id"), str(d.get("delta") or "")
    ),
    "conversation.item.input_audio_transcription.completed": lambda d: (
        TranscriptionCompleted(
            _s(d, "item_id"),
            _s(d, "transcript"),
            d["usage"] if isinstance(d.get("usage"), dict) else None,
        )
    ),
    "conversation.item.input_audio_transcription.failed": _transcription_failed,
    "response.created": _response_created,
    "response.done": _response_done,
    "response.output_item.added": lambda d: OutputItemAdded(
        _s(d, "response_id"), _i(d, "output_index"), _d(d, "item")
    ),
    "response.output_item.done": lambda d: OutputItemDone(
        _s(d, "response_id"), _i(d, "output_index"), _d(d, "item")
    ),
    "response.output_text.delta": lambda d: TextDelta(*_ids(d), _s(d, "delta")),
    "response.text.delta": lambda d: TextDelta(*_ids(d), _s(d, "delta")),
    "response.output_text.done": lambda d: TextDone(*_ids(d), _s(d, "text")),
    "response.text.done": lambda d: TextDone(*_ids(d), _s(d, "text")),
    "response.output_audio.delta": lambda d: AudioDelta(*_ids(d), _b64(d, "delta")),
    "response.audio.delta": lambda d: AudioDelta(*_ids(d), _b64(d, "delta")),
    "response.output_audio.done": lambda d: AudioDone(*_ids(d)),
    "response.audio.done": lambda d: AudioDone(*_ids(d)),
    "response.output_audio_transcript.delta": lambda d: TranscriptDelta(
        *_ids(d), _s(d, "delta")
    ),
    "response.audio_transcript.delta": lambda d: TranscriptDelta(
        *_ids(d), _s(d, "delta")
    ),
    "response.output_audio_transcript.done": lambda d: TranscriptDone(
        *_ids(d), _s(d, "transcript")
    ),
    "response.audio_transcript.done": lambda d: TranscriptDone(
        *_ids(d), _s(d, "transcript")
    ),
    "response.function_call_arguments.done": lambda d: FunctionArgumentsDone(
        *_ids(d), _s(d, "call_id"), _s(d, "arguments"), _opt_s(d, "name")
    ),
    "rate_limits.updated": lambda d: RateLimitsUpdated(_dicts(d, "rate_limits")),
}


def parse_server_event(raw: str | bytes) -> ServerEvent | None:
    """Parse one websocket text frame into a typed event.

    Returns None, after logging, for anything that must be skipped rather than
    raised: unknown event types (debug: servers add events over time) and malformed
    frames (warning: bad JSON, JSON nested too deep to parse, missing or mistyped
    fields). A skipped frame never stops the session.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        _LOGGER.warning("Skipping a frame that is not JSON: %.80r", raw)
        return None
    except RecursionError:
        # Nested deeper than the parser's stack: no real event comes near that.
        _LOGGER.warning("Skipping a malformed frame nested too deep: %.80r", raw)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        _LOGGER.warning("Skipping a frame without an event type: %.80r", raw)
        return None
    event_type: str = data["type"]
    parser = _PARSERS.get(event_type)
    if parser is None:
        if event_type in _OTHER or event_type.startswith(("response.mcp", "mcp_list")):
            return OtherEvent(event_type)
        _LOGGER.debug("Skipping unknown event type %s", event_type)
        return None
    try:
        return parser(data)
    except (KeyError, TypeError, ValueError) as err:
        _LOGGER.warning("Skipping malformed %s event (field %s)", event_type, err)
        return None
