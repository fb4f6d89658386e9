"""A realtime session's configuration: defaults per dialect, and dialect-neutral reads.

The configuration is kept in the dialect's own wire shape, exactly what
`session.created` and `session.updated` carry, including the read-only `id`,
`object` ("realtime.session") and `expires_at` the real server reports. (The SDK
types `session.created`'s session as the *request* model, which lacks those three;
its `RealtimeSessionCreateResponse` has them, and so do the real server's events.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .errors import Json

Dialect = Literal["ga", "beta"]
AudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]

DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. "
    "Act like a human, but remember that you aren't a human."
)
VOICES_BETA = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse"]
VOICES_GA = [*VOICES_BETA, "marin", "cedar"]
MODELS = [
    "gpt-realtime",
    "gpt-realtime-2025-08-28",
    "gpt-realtime-mini",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-mini-realtime-preview",
]
# Models that take `reasoning` and `parallel_tool_calls` (SDK: "reasoning Realtime
# models such as gpt-realtime-2").
REASONING_MODEL_PREFIXES = ("gpt-realtime-2",)
_GA_FORMAT_NAMES: dict[str, AudioFormat] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}


def is_reasoning_model(model: str) -> bool:
    """Whether the model accepts `reasoning` and `parallel_tool_calls`."""
    return model.startswith(REASONING_MODEL_PREFIXES)


def default_turn_detection() -> Json:
    """Server VAD as the real `session.created` shows it (silence 200 ms)."""
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "create_response": True,
        "interrupt_response": True,
    }


def default_session(
    dialect: Dialect, model: str, session_id: str, expires_at: int
) -> Json:
    """The full default configuration a new session reports in `session.created`."""
    read_only: Json = {
        "id": session_id,
        "object": "realtime.session",
        "expires_at": expires_at,
    }
    if dialect == "ga":
        return read_only | {
            "type": "realtime",
            "model": model,
            "output_modalities": ["audio"],
            "instructions": DEFAULT_INSTRUCTIONS,
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "truncation": "auto",
            "include": None,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": default_turn_detection()
                    | {"idle_timeout_ms": None},
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "marin",
                    "speed": 1.0,
                },
            },
        }
    return read_only | {
        "model": model,
        "modalities": ["audio", "text"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
        "turn_detection": default_turn_detection(),
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "speed": 1.0,
        "tracing": None,
    }


class SessionView:
    """Dialect-neutral reads of a session configuration (a live view of the dict)."""

    def __init__(self, dialect: Dialect, config: Json) -> None:
        """Wrap the configuration dict."""
        self.dialect = dialect
        self.config = config

    def _audio(self, direction: str) -> Json:
        audio: Json = self.config["audio"][direction]
        return audio

    @property
    def turn_detection(self) -> Json | None:
        """The turn detection config, None when off."""
        if self.dialect == "ga":
            value: Json | None = self._audio("input")["turn_detection"]
        else:
            value = self.config["turn_detection"]
        return value

    @property
    def transcription(self) -> Json | None:
        """Input transcription config, None when off."""
        if self.dialect == "ga":
            value: Json | None = self._audio("input")["transcription"]
        else:
            value = self.config["input_audio_transcription"]
        return value

    @property
    def input_format(self) -> AudioFormat:
        """pcm16, g711_ulaw or g711_alaw."""
        if self.dialect == "ga":
            return _GA_FORMAT_NAMES[self._audio("input")["format"]["type"]]
        fmt: AudioFormat = self.config["input_audio_format"]
        return fmt

    @property
    def input_rate(self) -> int:
        """Sample rate of the input audio (G.711 is 8 kHz)."""
        return 24000 if self.input_format == "pcm16" else 8000

    @property
    def output_format(self) -> AudioFormat:
        """pcm16, g711_ulaw or g711_alaw."""
        if self.dialect == "ga":
            return _GA_FORMAT_NAMES[self._audio("output")["format"]["type"]]
        fmt: AudioFormat = self.config["output_audio_format"]
        return fmt

    @property
    def voice(self) -> Any:
        """The output voice: a name, or a custom voice object `{"id": …}` (GA)."""
        if self.dialect == "ga":
            return self._audio("output")["voice"]
        return self.config["voice"]

    @property
    def audio_out(self) -> bool:
        """Whether responses speak by default."""
        key = "output_modalities" if self.dialect == "ga" else "modalities"
        return "audio" in self.config[key]

    @property
    def instructions(self) -> str:
        """The session's instructions."""
        return str(self.config.get("instructions") or "")

    @property
    def tools(self) -> list[Json]:
        """The session's tools."""
        tools: list[Json] = self.config.get("tools") or []
        return tools

    @property
    def max_output_tokens(self) -> int | None:
        """The token cap of a response (None = unlimited)."""
        key = (
            "max_output_tokens"
            if self.dialect == "ga"
            else "max_response_output_tokens"
        )
        value = self.config.get(key)
        return value if isinstance(value, int) else None


def view_truncation(config: Json) -> Any:
    """The session's context truncation ("auto", "disabled", or an object); beta
    sessions have none and truncate as "auto" does."""
    return config.get("truncation", "auto")
