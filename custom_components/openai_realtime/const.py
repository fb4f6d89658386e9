"""Constants for the OpenAI Realtime integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "openai_realtime"

# --- config entry data (connection) -------------------------------------------------
CONF_API_KEY: Final = "api_key"
CONF_ENDPOINT_KIND: Final = "endpoint_kind"
CONF_BASE_URL: Final = "base_url"
CONF_AZURE_RESOURCE: Final = "azure_resource"
CONF_AZURE_DEPLOYMENT: Final = "azure_deployment"
CONF_AZURE_API_VERSION: Final = "azure_api_version"

ENDPOINT_OPENAI: Final = "openai"
ENDPOINT_AZURE: Final = "azure"
ENDPOINT_CUSTOM: Final = "custom"

DIALECT_GA: Final = "ga"
DIALECT_BETA: Final = "beta"

OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
# Empty api-version selects Azure's GA route (/openai/v1/realtime?model=...).
DEFAULT_AZURE_API_VERSION: Final = ""

# --- options (behaviour) ------------------------------------------------------------
CONF_MODEL: Final = "model"
CONF_VOICE: Final = "voice"
CONF_PROMPT: Final = "prompt"
CONF_LLM_HASS_API: Final = "llm_hass_api"
CONF_TEMPERATURE: Final = "temperature"
CONF_MAX_OUTPUT_TOKENS: Final = "max_output_tokens"
CONF_TURN_DETECTION: Final = "turn_detection"
CONF_VAD_THRESHOLD: Final = "vad_threshold"
CONF_VAD_PREFIX_PADDING_MS: Final = "vad_prefix_padding_ms"
CONF_VAD_SILENCE_MS: Final = "vad_silence_duration_ms"
CONF_VAD_EAGERNESS: Final = "vad_eagerness"
CONF_TRANSCRIPTION_MODEL: Final = "transcription_model"
CONF_IDLE_TIMEOUT: Final = "idle_timeout"
CONF_EAGER_RESPONSE: Final = "eager_response"
CONF_PRICES: Final = "prices"
CONF_BROWSER_ACCESS: Final = "browser_access"

# Who may talk through the browser card (WebRTC): admins only, or any user.
BROWSER_ACCESS_ADMINS: Final = "admins"
BROWSER_ACCESS_USERS: Final = "users"
BROWSER_ACCESS: Final = [BROWSER_ACCESS_ADMINS, BROWSER_ACCESS_USERS]

TURN_DETECTION_SERVER_VAD: Final = "server_vad"
TURN_DETECTION_SEMANTIC_VAD: Final = "semantic_vad"
TURN_DETECTION_OFF: Final = "off"
TURN_DETECTION_KINDS: Final = [
    TURN_DETECTION_SERVER_VAD,
    TURN_DETECTION_SEMANTIC_VAD,
    TURN_DETECTION_OFF,
]
VAD_EAGERNESS: Final = ["auto", "low", "medium", "high"]

MODEL_GPT_REALTIME: Final = "gpt-realtime"
# The GA models of the SDK's session types (openai 3.57), aliases before snapshots.
# They speak the GA protocol; any other id can be typed in the options.
MODELS_GA: Final = [
    MODEL_GPT_REALTIME,
    "gpt-realtime-mini",
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-2",
    "gpt-realtime-1.5",
    "gpt-realtime-2025-08-28",
    "gpt-realtime-mini-2025-12-15",
    "gpt-realtime-mini-2025-10-06",
    "gpt-audio-1.5",
    "gpt-audio-mini",
]
# OpenAI shut the preview models down on 2026-05-07; only compatible servers still
# serve them (they imply the beta dialect). Offered last, marked retired.
MODELS_RETIRED: Final = [
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
]
MODELS: Final = [*MODELS_GA, *MODELS_RETIRED]
BETA_MODEL_PREFIXES: Final = ("gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview")

VOICES_BETA: Final = [
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
]
VOICES_GA: Final = [*VOICES_BETA, "marin", "cedar"]

TRANSCRIPTION_MODELS: Final = [
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe",
    "whisper-1",
]

DEFAULT_MODEL: Final = MODEL_GPT_REALTIME
DEFAULT_PROMPT: Final = (
    "You are a voice assistant for Home Assistant. Answer in plain, short sentences "
    "that sound natural when spoken. Today is {{ now().strftime('%A, %B %d, %Y') }}."
)

# USD per 1M tokens: text in, cached text in, text out, audio in, cached audio in,
# audio out. Editable in the options; a model without prices has "unknown" cost.
PRICE_FIELDS: Final = (
    "text_in",
    "cached_text_in",
    "text_out",
    "audio_in",
    "cached_audio_in",
    "audio_out",
)
_GPT_REALTIME_PRICES = dict(zip(PRICE_FIELDS, (4, 0.4, 16, 32, 0.4, 64), strict=True))
_GPT_REALTIME_MINI_PRICES = dict(
    zip(PRICE_FIELDS, (0.6, 0.06, 2.4, 10, 0.3, 20), strict=True)
)
DEFAULT_PRICES: Final[dict[str, dict[str, float]]] = {
    "gpt-realtime": _GPT_REALTIME_PRICES,
    "gpt-realtime-2025-08-28": _GPT_REALTIME_PRICES,
    "gpt-realtime-mini": _GPT_REALTIME_MINI_PRICES,
    "gpt-realtime-mini-2025-10-06": _GPT_REALTIME_MINI_PRICES,
    "gpt-realtime-mini-2025-12-15": _GPT_REALTIME_MINI_PRICES,
    "gpt-4o-realtime-preview-2024-12-17": dict(
        zip(PRICE_FIELDS, (5, 2.5, 20, 40, 2.5, 80), strict=True)
    ),
    "gpt-4o-realtime-preview": dict(
        zip(PRICE_FIELDS, (5, 2.5, 20, 100, 20, 200), strict=True)
    ),
    "gpt-4o-mini-realtime-preview": dict(
        zip(PRICE_FIELDS, (0.6, 0.3, 2.4, 10, 0.3, 20), strict=True)
    ),
}

# Bounded wait for the handshake + session.created when validating credentials.
CONNECT_TIMEOUT: Final = 10.0

EVENT_TURN: Final = "openai_realtime_turn"

# Languages the realtime models understand and speak (STT and TTS entities).
LANGUAGES: Final = [
    "af", "ar", "bg", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et",
    "fa", "fi", "fr", "gl", "he", "hi", "hr", "hu", "hy", "id", "is", "it", "ja",
    "kk", "kn", "ko", "lt", "lv", "mi", "mk", "mr", "ms", "ne", "nl", "no", "pl",
    "pt", "ro", "ru", "sk", "sl", "sr", "sv", "sw", "ta", "th", "tl", "tr", "uk",
    "ur", "vi", "zh",
]  # fmt: skip


def dialect_for_model(model: str) -> str:
    """Return the protocol dialect a model speaks (retired previews speak beta)."""
    return DIALECT_BETA if model.startswith(BETA_MODEL_PREFIXES) else DIALECT_GA


def voices_for_dialect(dialect: str) -> list[str]:
    """Return the valid voices for a dialect."""
    return VOICES_GA if dialect == DIALECT_GA else VOICES_BETA
