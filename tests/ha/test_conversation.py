"""The conversation agent against the emulator: turns, tools, errors, sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent, llm
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
import voluptuous as vol

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.bridge.conversations import MAX_WARM_SESSIONS
from custom_components.openai_realtime.compat import get_chat_session
from custom_components.openai_realtime.const import (
    CONF_IDLE_TIMEOUT,
    CONF_LLM_HASS_API,
    EVENT_TURN,
)
from realtime_emulator import RealtimeEmulator
from realtime_emulator.brain import Rule, ScriptedBrain

from .. import leaks
from .conftest import AGENT, Wire, emulator_finished
from .typed import say, speech


def _sent(emulator: RealtimeEmulator, event_type: str) -> list[dict[str, Any]]:
    return [e for e in emulator.received if e["type"] == event_type]


def _outputs(emulator: RealtimeEmulator) -> list[dict[str, Any]]:
    return [
        json.loads(e["item"]["output"])
        for e in _sent(emulator, "conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]


@pytest.mark.usefixtures("setup_integration")
async def test_typed_turn_and_follow_up(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A typed turn is answered in text; the follow-up reuses the websocket."""
    result = await say(hass, "hello")
    assert result.response.response_type is intent.IntentResponseType.ACTION_DONE
    assert speech(result) == "Hello! How can I help with your home?"
    opened = len(emulator.sessions)
    creates = _sent(emulator, "response.create")
    assert creates[0]["response"]["output_modalities"] == ["text"]

    follow_up = await say(hass, "what did I just say", result.conversation_id)
    assert follow_up.conversation_id == result.conversation_id
    assert len(emulator.sessions) == opened
    session = emulator.sessions[-1]
    user_texts = [
        e["item"]["content"][0]["text"]
        for e in session.received
        if e["type"] == "conversation.item.create"
        and e["item"]["type"] == "message"
        and e["item"]["role"] == "user"
    ]
    assert user_texts == ["hello", "what did I just say"]


@pytest.mark.usefixtures("setup_integration", "house")
async def test_turn_on_exposed_light(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The model's HassTurnOn goes through HA's Assist API and the light turns on."""
    await hass.services.async_call(
        "light", "turn_off", {"entity_id": "light.kitchen_lights"}, blocking=True
    )
    events = async_capture_events(hass, EVENT_TURN)
    result = await say(hass, "turn on the kitchen lights")
    assert hass.states.get("light.kitchen_lights").state == "on"
    assert "kitchen lights" in speech(result).lower()
    assert _outputs(emulator)[0]["response_type"] == "action_done"

    assert len(events) == 1
    data = events[0].data
    assert data["conversation_id"] == result.conversation_id
    # HA 2026.9+ names the tool intent__HassTurnOn; short_name is the same on all.
    (call,) = data["tool_calls"]
    assert call["short_name"] == "HassTurnOn"
    assert call["name"] in ("HassTurnOn", "intent__HassTurnOn")
    assert call["success"] is True
    assert data["text"] == speech(result)
    assert data["usage"]["input_tokens"] > 0
    assert data["usage"]["output_tokens"] > 0
    assert data["responses"] == 2
    assert "device_id" in data

    # The ChatLog holds the tool call, its result and the answer.
    with (
        get_chat_session(hass, result.conversation_id) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        roles = [c.role for c in chat_log.content]
        assert roles[-4:] == ["user", "assistant", "tool_result", "assistant"]
        call = chat_log.content[-3]
        assert isinstance(call, conversation.AssistantContent)
        assert call.tool_calls
        assert call.tool_calls[0].tool_name.endswith("HassTurnOn")
        assert chat_log.content[-1].content == speech(result)


@pytest.mark.usefixtures("setup_integration", "house")
async def test_no_deprecated_ha_api_is_used(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """HA reports every deprecated call a custom integration makes ("Detected that
    custom integration ..."); turns with tool calls and a follow-up make none.

    On HA 2026.11 this covers ToolResultContent.tool_result (2026.10) and chat
    sessions opened without a context (2026.11).
    """
    first = await say(hass, "turn off the kitchen lights")
    await say(hass, "turn on the kitchen lights", first.conversation_id)
    with get_chat_session(hass, first.conversation_id) as session:
        assert session.conversation_id == first.conversation_id
    await hass.async_block_till_done()
    assert hass.states.get("light.kitchen_lights").state == "on"
    assert "Detected that custom integration" not in caplog.text


@pytest.mark.usefixtures("setup_integration", "house")
async def test_unexposed_light_is_not_touched(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """An entity not exposed to Assist cannot be controlled; the model is told."""
    async_expose_entity(hass, "conversation", "light.ceiling_lights", False)
    before = hass.states.get("light.ceiling_lights").state
    result = await say(hass, "turn off the ceiling lights")
    assert hass.states.get("light.ceiling_lights").state == before
    output = _outputs(emulator)[0]
    assert "error" in output or output.get("response_type") == "error"
    assert speech(result).startswith("Sorry")


class _RaisingTool(llm.Tool):
    name = "Explode"
    description = "Always fails"
    parameters = vol.Schema({})

    async def async_call(
        self,
        hass: HomeAssistant,
        tool_input: llm.ToolInput,
        llm_context: llm.LLMContext,
    ) -> Any:
        raise RuntimeError("kaboom")


class _TestAPI(llm.API):
    async def async_get_api_instance(
        self, llm_context: llm.LLMContext
    ) -> llm.APIInstance:
        return llm.APIInstance(
            api=self,
            api_prompt="Test tools.",
            llm_context=llm_context,
            tools=[_RaisingTool()],
        )


@pytest.mark.usefixtures("house")
async def test_bad_tool_calls_become_error_results(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
) -> None:
    """Invalid JSON, an unknown tool and a raising tool: errors to the model."""
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    unregister = llm.async_register_api(
        hass, _TestAPI(hass=hass, id="test_api", name="Test")
    )
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, CONF_LLM_HASS_API: ["assist", "test_api"]},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    try:
        await say(hass, "hello")
        # Newer HA merges several APIs itself and namespaces their tool names.
        offered = [tool["name"] for tool in emulator.sessions[-1].config["tools"]]
        turn_on = next(name for name in offered if name.endswith("HassTurnOn"))
        explode = next(name for name in offered if name.endswith("Explode"))
        emulator.brain = ScriptedBrain(
            [
                Rule(
                    "bad json",
                    call=[(turn_on, "{not json")],
                    then_say="Bad JSON noted.",
                ),
                Rule(
                    "unknown tool", call=[("NoSuchTool", {})], then_say="No such tool."
                ),
                Rule("explode", call=[(explode, {})], then_say="It failed."),
            ]
        )
        assert speech(await say(hass, "bad json")) == "Bad JSON noted."
        assert speech(await say(hass, "unknown tool")) == "No such tool."
        assert speech(await say(hass, "explode")) == "It failed."
        outputs = _outputs(emulator)
        assert "not valid JSON" in outputs[0]["error"]
        assert "NoSuchTool" in json.dumps(outputs[1])
        assert "kaboom" in json.dumps(outputs[2])
        assert hass.states.get("light.kitchen_lights").state == "on"  # untouched
    finally:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        unregister()


class _WhoAmITool(llm.Tool):
    """Records the LLM context each call runs with."""

    name = "WhoAmI"
    description = "Says which request this is"
    parameters = vol.Schema({})

    def __init__(self) -> None:
        self.contexts: list[Context | None] = []

    async def async_call(
        self,
        hass: HomeAssistant,
        tool_input: llm.ToolInput,
        llm_context: llm.LLMContext,
    ) -> Any:
        self.contexts.append(llm_context.context)
        data = {"request": len(self.contexts)}
        # HA 2026.10+ wants a ToolResult (a plain dict is reported, breaks 2027.11).
        tool_result = getattr(llm, "ToolResult", None)
        return tool_result(data=data) if tool_result is not None else data


@pytest.mark.usefixtures("house")
async def test_every_tool_call_runs_with_its_own_turn(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
) -> None:
    """Tool calls get the current turn's context; the LLM API is wrapped once.

    HA 2026.11 keeps a conversation's API instance between turns and only updates
    its context: re-wrapping it every turn nested wrappers and ran every later
    tool call with the first turn's context (its user, device and language).
    """
    from homeassistant.setup import async_setup_component

    from custom_components.openai_realtime.bridge.tools import SafeAPIInstance

    tool = _WhoAmITool()

    class _WhoAmIAPI(llm.API):
        async def async_get_api_instance(
            self, llm_context: llm.LLMContext
        ) -> llm.APIInstance:
            return llm.APIInstance(
                api=self, api_prompt="Who.", llm_context=llm_context, tools=[tool]
            )

    assert await async_setup_component(hass, "conversation", {})
    unregister = llm.async_register_api(
        hass, _WhoAmIAPI(hass=hass, id="who_api", name="Who")
    )
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_LLM_HASS_API: ["who_api"]}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    emulator.brain = ScriptedBrain(
        [Rule("who", call=[("WhoAmI", {})], then_say="You asked.")]
    )
    try:
        contexts = [Context() for _ in range(4)]
        conversation_id: str | None = None
        for context in contexts:
            result = await conversation.async_converse(
                hass, "who", conversation_id, context, language="en", agent_id=AGENT
            )
            assert speech(result) == "You asked."
            conversation_id = result.conversation_id
        assert [c.id for c in tool.contexts if c] == [c.id for c in contexts]
        with (
            get_chat_session(hass, conversation_id) as session,
            conversation.async_get_chat_log(hass, session) as chat_log,
        ):
            api = chat_log.llm_api
            assert isinstance(api, SafeAPIInstance)
            assert not any(
                isinstance(owner, SafeAPIInstance) for owner in api._owners.values()
            )
    finally:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        unregister()


async def test_admin_only_llm_api_is_not_offered_or_used(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
) -> None:
    """An admin-only LLM API (HA 2026.11's "Home Assistant") breaks spoken turns,
    which have no user: the options don't offer it and turns without an admin
    leave it out instead of failing."""
    from homeassistant.setup import async_setup_component

    class _AdminAPI(llm.API):
        async def async_get_api_instance(
            self, llm_context: llm.LLMContext
        ) -> llm.APIInstance:
            return llm.APIInstance(
                api=self, api_prompt="Admin.", llm_context=llm_context, tools=[]
            )

    assert await async_setup_component(hass, "conversation", {})
    admin_api = _AdminAPI(hass=hass, id="admin_api", name="Admin")
    admin_api.requires_admin = True  # a field since HA 2026.11
    unregister = llm.async_register_api(hass, admin_api)
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, CONF_LLM_HASS_API: ["assist", "admin_api"]},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    try:
        flow = await hass.config_entries.options.async_init(config_entry.entry_id)
        offered = next(
            validator
            for key, validator in flow["data_schema"].schema.items()
            if str(key) == CONF_LLM_HASS_API
        ).config["options"]
        assert "admin_api" not in [option["value"] for option in offered]
        assert "assist" in [option["value"] for option in offered]
        hass.config_entries.options.async_abort(flow["flow_id"])

        result = await say(hass, "hello")  # a context without a user
        assert result.response.response_type is intent.IntentResponseType.ACTION_DONE
    finally:
        assert await hass.config_entries.async_unload(config_entry.entry_id)
        unregister()


@pytest.mark.usefixtures("setup_integration")
async def test_dropped_connection_then_recovery(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A drop mid-response gives a clear error; the next turn reopens and replays."""
    first = await say(hass, "hello")
    opened = len(emulator.sessions)
    sent_before = len(emulator.sessions[-1].sent)
    emulator.options.drop_after_events = sent_before + 4
    failed = await say(hass, "tell me something", first.conversation_id)
    assert failed.response.response_type is intent.IntentResponseType.ERROR
    assert "connection" in speech(failed).lower()

    emulator.options.drop_after_events = None
    ok = await say(hass, "hello again", first.conversation_id)
    assert ok.response.response_type is intent.IntentResponseType.ACTION_DONE
    assert len(emulator.sessions) == opened + 1
    replayed = [
        e["item"]
        for e in emulator.sessions[-1].received
        if e["type"] == "conversation.item.create"
    ]
    assert replayed[0]["content"][0]["text"] == "hello"


@pytest.mark.usefixtures("setup_integration")
async def test_server_error_and_rate_limit(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A 429 at connect becomes plain words, not an exception."""
    emulator.options.handshake_status = 429
    result = await say(hass, "hello")
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert "rate limiting" in speech(result)


async def test_idle_timeout_closes_session(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    enable_custom_integrations: None,
) -> None:
    """After the idle timeout the conversation's websocket is closed."""
    from homeassistant.setup import async_setup_component

    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_IDLE_TIMEOUT: 30}
    )
    assert await async_setup_component(hass, "homeassistant", {})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await say(hass, "hello")
    session = emulator.sessions[-1]
    assert not session.closed
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    await emulator_finished()  # the emulator has seen the close
    assert session.closed
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_unload_closes_everything(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    wire: Wire,
    setup_integration: MockConfigEntry,
) -> None:
    """Unload closes every websocket, on both ends, and leaves no task or timer."""
    opened = len(emulator.sessions)
    await say(hass, "hello")
    await say(hass, "hello")  # a second conversation
    assert len(emulator.sessions) == opened + 2
    assert not emulator.sessions[-1].closed  # warm, until the unload
    assert await hass.config_entries.async_unload(setup_integration.entry_id)
    await hass.async_block_till_done()
    assert setup_integration.state is ConfigEntryState.NOT_LOADED
    # Nothing of the integration is left running or scheduled …
    loop = asyncio.get_running_loop()
    tasks = leaks.our_tasks(loop, leaks.INTEGRATION)
    timers = leaks.our_timers(loop, leaks.INTEGRATION)
    assert not tasks and not timers, leaks.describe(tasks, timers, loop)
    # … every websocket it opened is closed on its side …
    assert len(wire.sockets) == len(emulator.sessions)
    assert all(ws.closed for ws in wire.sockets)
    # … and on the emulator's, which then has nothing left to run.
    await emulator_finished()
    assert all(session.closed for session in emulator.sessions)


@pytest.mark.usefixtures("setup_integration", "house")
async def test_concurrent_conversations_do_not_mix(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Two conversations at once get their own sessions and answers."""
    emulator.options.model_delay = 0.05
    opened = len(emulator.sessions)
    one, two = await asyncio.gather(
        say(hass, "turn on the kitchen lights"), say(hass, "hello")
    )
    assert one.conversation_id != two.conversation_id
    assert "kitchen lights" in speech(one).lower()
    assert speech(two) == "Hello! How can I help with your home?"
    assert len(emulator.sessions) == opened + 2


@pytest.mark.usefixtures("setup_integration")
async def test_warm_sessions_are_capped(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """Many one-off conversations keep at most MAX_WARM_SESSIONS websockets open.

    The least recently used ones are closed first, and a follow-up in one of them
    reopens its session with the earlier turns replayed.
    """
    first = await say(hass, "my name is Ada")
    for n in range(MAX_WARM_SESSIONS + 2):
        await say(hass, f"hello {n}")
    await hass.async_block_till_done()
    open_now = [s for s in emulator.sessions if not s.closed]
    assert len(open_now) == MAX_WARM_SESSIONS
    assert emulator.sessions[1].closed  # the first conversation's (0: setup check)

    await say(hass, "what is my name", first.conversation_id)
    replayed = [
        e["item"]["content"][0]["text"]
        for e in emulator.sessions[-1].received
        if e["type"] == "conversation.item.create" and e["item"]["role"] == "user"
    ]
    assert replayed == ["my name is Ada", "what is my name"]


async def test_key_never_reaches_the_log(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Debug logging through turns, a drop, a 429 and a rejected key: no API key."""
    caplog.set_level(logging.DEBUG)
    first = await say(hass, "hello")
    emulator.options.drop_after_events = len(emulator.sessions[-1].sent) + 2
    await say(hass, "tell me something", first.conversation_id)
    emulator.options.drop_after_events = None
    emulator.options.handshake_status = 429
    await say(hass, "hello")
    emulator.options.handshake_status = None
    emulator.options.api_keys = {"sk-another-key"}
    failed = await say(hass, "hello")
    assert failed.response.response_type is intent.IntentResponseType.ERROR
    await hass.async_block_till_done()
    assert "realtime" in caplog.text.lower()  # the log did record these turns
    assert setup_integration.data["api_key"] not in caplog.text


@pytest.mark.parametrize(
    ("language", "hint"),
    [("en-US", "en"), ("nl", "nl"), ("pt_BR", "pt"), ("*", None), ("", None)],
)
def test_transcription_language_hint(language: str, hint: str | None) -> None:
    """HA language tags become the ISO-639-1 hint the API takes (or none)."""
    from custom_components.openai_realtime.options import transcription_language

    assert transcription_language(language) == hint
