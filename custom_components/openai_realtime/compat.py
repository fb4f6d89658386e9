"""Differences between the Home Assistant versions we support, in one place.

We support HA 2025.4 (the minimum in hacs.json) to the newest release. Every shim
here detects a feature, never a version number, and says which HA release lets it
go: when our minimum reaches that release, delete the shim and its fallback.
"""

from __future__ import annotations

from dataclasses import fields
import importlib
import inspect
from typing import TYPE_CHECKING, Any

from homeassistant import config_entries
from homeassistant.components import conversation, stt, tts
from homeassistant.helpers import chat_session, llm
import voluptuous as vol

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Callable
    from contextlib import AbstractContextManager

    from homeassistant.components.conversation import ChatLog, ConversationInput
    from homeassistant.core import Context, HomeAssistant


# --- tool schemas -------------------------------------------------------------------
# HA 2026.9 replaced voluptuous with probatio (and stopped installing
# voluptuous-openapi): its tool schemas are probatio's. Drop with minimum >= 2026.9.
def _schema_converter() -> Callable[..., dict[str, Any]]:
    try:
        module, name = importlib.import_module("probatio"), "to_openapi"
    except ImportError:  # HA < 2026.9
        module, name = importlib.import_module("voluptuous_openapi"), "convert"
    converter: Callable[..., dict[str, Any]] = getattr(module, name)
    return converter


_TO_OPENAPI = _schema_converter()


def schema_to_openapi(
    schema: Any, serializer: Callable[[Any], Any] | None
) -> dict[str, Any]:
    """JSON schema of an HA tool's parameters, with the API's custom serializer."""
    return _TO_OPENAPI(schema, custom_serializer=serializer)


def form_schema(fields: dict[Any, Any]) -> Any:
    """A flow form's data schema.

    At runtime `voluptuous` is probatio's shim on HA 2026.9+ and voluptuous before;
    type checkers only know one of the two, so the schema is typed loosely.
    """
    return vol.Schema(fields)


# --- tool results -------------------------------------------------------------------
# HA 2026.10: tools return llm.ToolResult(data, error) and ToolResultContent.result
# replaces .tool_result (deprecated, breaks 2027.11). Drop with minimum >= 2026.10.
_TOOL_RESULT_HAS_RESULT = any(
    f.name == "result" for f in fields(conversation.ToolResultContent)
)


def tool_result_outcome(content: conversation.ToolResultContent) -> tuple[Any, bool]:
    """A tool result's data, and whether the call failed."""
    if _TOOL_RESULT_HAS_RESULT:
        result: Any = getattr(content, "result")  # noqa: B009 - unknown to old stubs
        return result.data, bool(result.error)
    data = content.tool_result
    return data, isinstance(data, dict) and "error" in data


def tool_call_outcome(result: Any) -> tuple[Any, bool]:
    """What `APIInstance.async_call_tool` returned: its data, and whether it failed."""
    if _TOOL_RESULT_HAS_RESULT and hasattr(result, "data"):
        return result.data, bool(getattr(result, "error", False))
    return result, isinstance(result, dict) and "error" in result


def intent_response_of(data: Any) -> Any | None:
    """The IntentResponse a tool's result carries, if any (HA 2025.5+)."""
    with_original = getattr(llm, "IntentResponseDict", None)
    if with_original is not None and isinstance(data, with_original):
        return data.original
    return None


# --- LLM data -----------------------------------------------------------------------
# HA 2025.5 added ChatLog.async_provide_llm_data and llm.MergedAPI (several APIs per
# agent). Drop both fallbacks with minimum >= 2025.5.
MERGES_APIS = hasattr(llm, "MergedAPI")


async def async_provide_llm_data(
    chat_log: ChatLog,
    user_input: ConversationInput,
    domain: str,
    api_ids: str | list[str] | None,
    prompt: str | None,
) -> None:
    """Fill the ChatLog's system prompt and LLM API for this turn."""
    provide = getattr(chat_log, "async_provide_llm_data", None)
    if provide is not None:
        as_llm_context = getattr(user_input, "as_llm_context")  # noqa: B009
        await provide(
            as_llm_context(domain), api_ids, prompt, user_input.extra_system_prompt
        )
        return
    update = getattr(chat_log, "async_update_llm_data")  # noqa: B009 - HA 2025.4
    await update(domain, user_input, api_ids, prompt)


# HA's clock line for prompts: BASE_PROMPT until 2025.5, DATE_TIME_PROMPT since.
# Drop with minimum >= 2025.5.
CLOCK_PROMPT: str = vars(llm).get("DATE_TIME_PROMPT") or vars(llm)["BASE_PROMPT"]


def api_requires_admin(api: llm.API) -> bool:
    """Whether an LLM API is for admins only (HA 2026.11's "Home Assistant" API)."""
    return bool(getattr(api, "requires_admin", False))


# --- chat logs and sessions ---------------------------------------------------------
def subscribe_chat_logs(
    hass: HomeAssistant, handler: Callable[[str, Any, dict[str, Any]], None]
) -> Callable[[], None]:
    """Subscribe to every chat log's events (HA 2025.7+; a no-op before).

    The function lives in `conversation.chat_log` and is not exported from the
    package. Drop the fallback with minimum >= 2025.7.
    """
    from homeassistant.components.conversation import chat_log

    subscribe: Any = getattr(chat_log, "async_subscribe_chat_logs", None)
    if subscribe is None:
        return lambda: None
    unsubscribe: Callable[[], None] = subscribe(hass, handler)
    return unsubscribe


_SESSION_TAKES_CONTEXT = (
    "context" in inspect.signature(chat_session.async_get_chat_session).parameters
)


def get_chat_session(
    hass: HomeAssistant, conversation_id: str | None, context: Context | None = None
) -> AbstractContextManager[chat_session.ChatSession]:
    """Open a conversation's chat session on behalf of `context`'s user (None: of
    no user, as a satellite does; a None id starts a new conversation).

    HA 2026.11 gives sessions owners (another user's context raises Unauthorized)
    and reports a call without `context`. Drop with minimum >= 2026.11.
    """
    get_session: Any = chat_session.async_get_chat_session  # signature differs
    kwargs = {"context": context} if _SESSION_TAKES_CONTEXT else {}
    session: AbstractContextManager[chat_session.ChatSession] = get_session(
        hass, conversation_id, **kwargs
    )
    return session


def conversation_input(**kwargs: Any) -> ConversationInput:
    """A ConversationInput with the fields this HA has (satellite_id: 2025.5+)."""
    known = {f.name for f in fields(conversation.ConversationInput)}
    return conversation.ConversationInput(
        **{key: value for key, value in kwargs.items() if key in known}
    )


_RESULT_CONTINUES = any(
    f.name == "continue_conversation" for f in fields(conversation.ConversationResult)
)


def conversation_result(
    response: Any, conversation_id: str, continue_conversation: bool
) -> conversation.ConversationResult:
    """A ConversationResult; `continue_conversation` where this HA has it (2025.5+)."""
    kwargs: dict[str, Any] = {}
    if _RESULT_CONTINUES:
        kwargs["continue_conversation"] = continue_conversation
    return conversation.ConversationResult(
        response=response, conversation_id=conversation_id, **kwargs
    )


# --- the browser card's module -----------------------------------------------------
async def async_register_static_path(hass: HomeAssistant, url: str, path: str) -> None:
    """Serve one file (HA 2024.7+ registers static paths in the event loop)."""
    from homeassistant.components.http import StaticPathConfig

    await hass.http.async_register_static_paths([StaticPathConfig(url, path, True)])


def add_extra_module_url(hass: HomeAssistant, url: str) -> None:
    """Load an ES module on every frontend page (what cards need to be defined)."""
    from homeassistant.components import frontend

    frontend.add_extra_js_url(hass, url)


# --- config entries -----------------------------------------------------------------
# HA 2025.8 reloads an entry after its options flow by itself; since 2026.6 an update
# listener next to async_update_reload_and_abort is reported (breaks 2026.12). Where
# the class exists we have no listener at all. Drop with minimum >= 2025.8.
OPTIONS_FLOW_RELOADS = hasattr(config_entries, "OptionsFlowWithReload")
if TYPE_CHECKING:
    OptionsFlowBase = config_entries.OptionsFlow
else:
    OptionsFlowBase = getattr(
        config_entries, "OptionsFlowWithReload", config_entries.OptionsFlow
    )


# --- text-to-speech -----------------------------------------------------------------
# HA 2026.11 converts TTS audio only for options the engine does not support (and
# added PcmFormat with it); before, any requested rate meant an ffmpeg conversion.
# Only tests read this: the engine produces the asked shape on every version.
TTS_SKIPS_SUPPORTED_CONVERSIONS = hasattr(tts, "PcmFormat")


# --- repairs ------------------------------------------------------------------------
# A fix flow's steps return repairs.RepairsFlowResult on the newest HA (added after
# 2026.2) and data_entry_flow.FlowResult before; typed loosely to serve both. Drop
# with minimum >= the release that added it.
type RepairsFlowResult = Any


# --- speech-to-text -----------------------------------------------------------------
# HA tells an STT entity nothing about the pipeline run it serves, yet a run that
# ends after speech-to-text (`assist_satellite.ask_question`, a websocket run for a
# transcript) wants no answer, and our eager response would be paid for and thrown
# away. The audio stream HA hands over is a generator method of the run: of the
# PipelineRun up to 2026.2, of its processor (whose `host` is the run) in 2026.11.
# Its frame's `self` says where the run ends. No release lets this go yet: drop it
# when HA passes the run's stages to STT entities.
def run_ends_at_stt(stream: AsyncIterable[bytes]) -> bool:
    """Whether the pipeline run that made `stream` ends at speech-to-text.

    False when the stream does not come from a run we recognise (an answer is
    then asked for as usual).
    """
    frame: Any = getattr(stream, "ag_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    for candidate in (owner, getattr(owner, "host", None)):
        end_stage = getattr(candidate, "end_stage", None)
        if end_stage is not None:
            return str(end_stage) == "stt"  # PipelineStage is a StrEnum
    return False


# HA 2026.5: an STT entity says whether it needs HA's VAD and HA's gain/noise
# processing. Drop with minimum >= 2026.5.
HAS_AUDIO_PROCESSING = hasattr(stt, "SpeechAudioProcessing")


def audio_processing(*, server_ends_turns: bool, raw_audio: bool) -> Any:
    """HA's audio processing for our STT entity, or None where HA has no such idea.

    With the server's turn detection on, the server hears the end of speech, so
    HA's own VAD must not cut the stream first. With the server's own noise
    reduction on, satellites that can (ESPHome) send the unprocessed channel.
    """
    if not HAS_AUDIO_PROCESSING:
        return None
    processing_type: Any = getattr(stt, "SpeechAudioProcessing")  # noqa: B009
    return processing_type(
        requires_external_vad=not server_ends_turns,
        prefers_auto_gain_enabled=not raw_audio,
        prefers_noise_reduction_enabled=not raw_audio,
    )
