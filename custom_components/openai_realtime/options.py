"""The entry's options, typed and with their defaults, built once per entry.

The options flow writes a plain dict; everything else reads `EntryOptions`. The
defaults live here and nowhere else, and the realtime session's configuration is
derived from the options by `session_config`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from .const import (
    BROWSER_ACCESS_ADMINS,
    CONF_BROWSER_ACCESS,
    CONF_EAGER_RESPONSE,
    CONF_IDLE_TIMEOUT,
    CONF_LLM_HASS_API,
    CONF_MAX_OUTPUT_TOKENS,
    CONF_MODEL,
    CONF_PRICES,
    CONF_PROMPT,
    CONF_TEMPERATURE,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VAD_EAGERNESS,
    CONF_VAD_PREFIX_PADDING_MS,
    CONF_VAD_SILENCE_MS,
    CONF_VAD_THRESHOLD,
    CONF_VOICE,
    DEFAULT_MODEL,
    DEFAULT_PRICES,
    DEFAULT_PROMPT,
    TURN_DETECTION_OFF,
    TURN_DETECTION_SEMANTIC_VAD,
    TURN_DETECTION_SERVER_VAD,
    dialect_for_model,
)
from .realtime import events as ev

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .realtime.endpoint import Dialect

LLM_API_ASSIST = "assist"  # llm.LLM_API_ASSIST, without importing HA here
# A long conversation's context, after the instructions and tools, is capped: when
# it outgrows this many tokens the server drops its oldest quarter at once. Cost
# per turn stays bounded, and the cached prefix survives the turns in between
# (dropping one item at a time would break it on every turn).
CONTEXT_TOKENS = 12_000
CONTEXT_KEPT = 0.75
type Eagerness = Literal["auto", "low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class EntryOptions:
    """What the user chose in the options flow (or the defaults)."""

    model: str = DEFAULT_MODEL
    voice: str = "marin"
    prompt: str = DEFAULT_PROMPT
    llm_hass_api: tuple[str, ...] = (LLM_API_ASSIST,)
    temperature: float = 0.8  # beta dialect only
    max_output_tokens: int = 1024
    # Off by default: the satellite's "finished speaking" setting ends the turn.
    turn_detection: str = TURN_DETECTION_OFF
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    vad_eagerness: str = "auto"
    transcription_model: str = "gpt-4o-mini-transcribe"
    idle_timeout: float = 300.0  # seconds a conversation's session stays warm
    eager_response: bool = True
    # USD per 1M tokens, per model, as entered; defaults for known models elsewhere.
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # Who may use the browser card (WebRTC): "admins" or "users" (any user).
    browser_access: str = BROWSER_ACCESS_ADMINS

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> EntryOptions:
        """Read stored options; missing or empty values take the default."""
        default = cls()

        def get(key: str, fallback: Any) -> Any:
            value = options.get(key)
            return fallback if value is None or value == "" else value

        return cls(
            model=str(get(CONF_MODEL, default.model)).strip() or default.model,
            voice=str(get(CONF_VOICE, default.voice)),
            # Present but empty: the user cleared it, HA's default prompt applies.
            prompt=str(options.get(CONF_PROMPT, default.prompt) or ""),
            llm_hass_api=tuple(options.get(CONF_LLM_HASS_API) or ()),
            temperature=float(get(CONF_TEMPERATURE, default.temperature)),
            max_output_tokens=int(
                get(CONF_MAX_OUTPUT_TOKENS, default.max_output_tokens)
            ),
            turn_detection=str(get(CONF_TURN_DETECTION, default.turn_detection)),
            vad_threshold=float(get(CONF_VAD_THRESHOLD, default.vad_threshold)),
            vad_prefix_padding_ms=int(
                get(CONF_VAD_PREFIX_PADDING_MS, default.vad_prefix_padding_ms)
            ),
            vad_silence_duration_ms=int(
                get(CONF_VAD_SILENCE_MS, default.vad_silence_duration_ms)
            ),
            vad_eagerness=str(get(CONF_VAD_EAGERNESS, default.vad_eagerness)),
            transcription_model=str(
                get(CONF_TRANSCRIPTION_MODEL, default.transcription_model)
            ),
            idle_timeout=float(get(CONF_IDLE_TIMEOUT, default.idle_timeout)),
            eager_response=bool(get(CONF_EAGER_RESPONSE, default.eager_response)),
            prices=entered_prices(options.get(CONF_PRICES) or {}),
            browser_access=str(get(CONF_BROWSER_ACCESS, default.browser_access)),
        )

    def as_mapping(self) -> dict[str, Any]:
        """The stored form (what the options flow writes)."""
        stored = asdict(self)
        stored[CONF_LLM_HASS_API] = list(self.llm_hass_api)
        stored[CONF_PRICES] = {m: dict(p) for m, p in self.prices.items()}
        return stored

    @property
    def dialect(self) -> Dialect:
        """The protocol dialect the model speaks (retired previews speak beta)."""
        return "beta" if dialect_for_model(self.model) == "beta" else "ga"

    @property
    def server_ends_turns(self) -> bool:
        """Whether the server's turn detection may end a spoken turn."""
        return self.turn_detection != TURN_DETECTION_OFF

    def turn_detection_config(self) -> ev.TurnDetection | None:
        """The server's end-of-turn detection, if the user turned it on.

        When on, the server may end the turn sooner than HA's VAD; it never answers
        or cancels on its own, because the STT entity asks for the response.
        """
        if self.turn_detection == TURN_DETECTION_SEMANTIC_VAD:
            return ev.TurnDetection(
                "semantic_vad",
                eagerness=cast("Eagerness", self.vad_eagerness),
                create_response=False,
                interrupt_response=False,
            )
        if self.turn_detection == TURN_DETECTION_SERVER_VAD:
            return ev.TurnDetection(
                "server_vad",
                threshold=self.vad_threshold,
                prefix_padding_ms=self.vad_prefix_padding_ms,
                silence_duration_ms=self.vad_silence_duration_ms,
                create_response=False,
                interrupt_response=False,
            )
        return None

    def browser_turn_detection(self) -> ev.TurnDetection:
        """Turn detection of the browser card's calls: always on, hands-free.

        The server ends each turn, answers it, and stops the answer when the user
        talks over it; the kind and settings are the entry's (server VAD when the
        entry leaves turns to the pipeline).
        """
        if self.turn_detection == TURN_DETECTION_SEMANTIC_VAD:
            return ev.TurnDetection(
                "semantic_vad", eagerness=cast("Eagerness", self.vad_eagerness)
            )
        return ev.TurnDetection(
            "server_vad",
            threshold=self.vad_threshold,
            prefix_padding_ms=self.vad_prefix_padding_ms,
            silence_duration_ms=self.vad_silence_duration_ms,
        )

    def session_config(
        self,
        instructions: str,
        tools: tuple[ev.FunctionTool, ...],
        language: str | None = None,
    ) -> ev.SessionConfig:
        """The realtime session configuration of a conversation."""
        return ev.SessionConfig(
            instructions=instructions,
            voice=self.voice,
            output_modalities=("audio",),
            transcription_model=self.transcription_model,
            transcription_language=transcription_language(language),
            turn_detection=self.turn_detection_config(),
            tools=tools,
            max_output_tokens=self.max_output_tokens or None,
            temperature=self.temperature if self.dialect == "beta" else None,
            truncation=ev.RetentionRatio(CONTEXT_KEPT, CONTEXT_TOKENS)
            if self.dialect == "ga"
            else None,
        )


def entered_prices(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The prices the user entered, per model.

    The options form once prefilled the prices of the model being replaced when
    the model changed, and stored them under the new one (gpt-realtime-mini priced
    as gpt-realtime). Such a copy is dropped where that is certain: a model with
    list prices of its own, holding exactly another model's list prices.
    """
    return {
        model: prices
        for model, prices in stored.items()
        if not _copied_list_prices(model, prices)
    }


def _copied_list_prices(model: str, prices: Any) -> bool:
    own = DEFAULT_PRICES.get(model)
    return (
        own is not None
        and prices != own
        and any(prices == other for other in DEFAULT_PRICES.values())
    )


def transcription_language(language: str | None) -> str | None:
    """HA's language ("en-US", "nl", "*") as the ISO-639-1 hint the API takes."""
    if not language or language == "*":
        return None
    primary = language.replace("_", "-").split("-")[0].lower()
    return primary if len(primary) == 2 and primary.isalpha() else None
