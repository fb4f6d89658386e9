"""The browser card's websocket commands, through Home Assistant, against the emulator.

Who may start a call (the entry's option), the client secret minted for the user's
session (never the API key), tool calls run as the logged-in user (exposure, the
user's permissions, admin-only APIs), finished turns in the ChatLog and the costs,
and a later typed turn that knows them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.auth.const import GROUP_ID_ADMIN, GROUP_ID_USER
from homeassistant.auth.models import Credentials
from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    CLIENT_ID,
    MockConfigEntry,
    MockUser,
    async_capture_events,
)
import voluptuous as vol

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.compat import get_chat_session
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS
from custom_components.openai_realtime.const import (
    CONF_BROWSER_ACCESS,
    CONF_LLM_HASS_API,
    CONF_MODEL,
    DOMAIN,
    EVENT_TURN,
)
from realtime_emulator import RealtimeEmulator

from ..conftest import API_KEY, entry_data

AGENT = "conversation.realtime_emulator"
KITCHEN = "light.kitchen_lights"
CEILING = "light.ceiling_lights"


@pytest.fixture
def config_entry(
    hass: HomeAssistant, emulator: RealtimeEmulator, request: pytest.FixtureRequest
) -> MockConfigEntry:
    """Our entry; a test's `entry_options` marker adds options."""
    marker = request.node.get_closest_marker("entry_options")
    extra = marker.args[0] if marker else {}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Realtime (emulator)",
        data=entry_data(emulator),
        options={**DEFAULT_OPTIONS, **extra},
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def house(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    config_entry: MockConfigEntry,
) -> AsyncIterator[MockConfigEntry]:
    """Demo lights and our entry, set up."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    with patch(
        "homeassistant.components.demo.COMPONENTS_WITH_CONFIG_ENTRY_DEMO_PLATFORM",
        ["light"],
    ):
        assert await hass.config_entries.async_setup(demo.entry_id)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        yield config_entry
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.config_entries.async_unload(demo.entry_id)


async def _token(hass: HomeAssistant, group: str) -> tuple[MockUser, str]:
    """A user of `group` and an access token for them."""
    user = MockUser(
        name=group, groups=[await hass.auth.async_get_group(group)]
    ).add_to_hass(hass)
    credential = Credentials(
        id=f"credential-{group}",
        auth_provider_type="homeassistant",
        auth_provider_id=None,
        data={"username": group},
        is_new=False,
    )
    await hass.auth.async_link_user(user, credential)
    refresh = await hass.auth.async_create_refresh_token(
        user, CLIENT_ID, credential=credential
    )
    return user, hass.auth.async_create_access_token(refresh)


class Card:
    """A logged-in user's websocket, speaking the card's commands."""

    def __init__(self, client: Any, user: MockUser) -> None:
        self.client = client
        self.user = user
        self.calls = 0

    async def command(self, **message: Any) -> dict[str, Any]:
        """Send one command; its whole reply (success or error)."""
        await self.client.send_json_auto_id(message)
        reply: dict[str, Any] = await self.client.receive_json()
        return reply

    async def start(self, **extra: Any) -> dict[str, Any]:
        """A started call's result (fails the test if refused)."""
        reply = await self.command(type=f"{DOMAIN}/browser/start", **extra)
        assert reply["success"], reply
        result: dict[str, Any] = reply["result"]
        return result

    async def tool(self, handle: str, tool: str, **arguments: Any) -> Any:
        """Run a tool call; the output the model would read, parsed."""
        self.calls += 1
        reply = await self.command(
            type=f"{DOMAIN}/browser/tool",
            handle=handle,
            call_id=f"call_{self.calls}",
            name=tool,
            arguments=json.dumps(arguments),
        )
        assert reply["success"], reply
        return json.loads(reply["result"]["output"])


@pytest.fixture
async def card_for(hass: HomeAssistant, hass_ws_client: Any, local_auth: Any) -> Any:
    """card_for(group): the card's websocket for a new user of that group."""

    async def make(group: str = GROUP_ID_ADMIN) -> Card:
        user, token = await _token(hass, group)
        return Card(await hass_ws_client(hass, access_token=token), user)

    return make


def _wire_name(started: dict[str, Any], base: str) -> str:
    return next(name for name in started["tools"] if name.endswith(base))


@pytest.mark.usefixtures("house")
async def test_start_mints_a_client_secret_for_the_users_session(
    hass: HomeAssistant, emulator: RealtimeEmulator, card_for: Any
) -> None:
    """The card gets a short-lived key, where to call, the conversation and the
    user's tools; the key's session has the rendered prompt, the tools and
    hands-free turn detection; the API key never reaches the browser."""
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start(language="en")
    assert API_KEY not in json.dumps(started)
    assert started["client_secret"].startswith("ek_")
    assert started["calls_url"] == f"{emulator.base_url}/realtime/calls"
    assert 50 <= started["expires_at"] - emulator.now() <= 60
    assert started["conversation_id"]
    assert _wire_name(started, "HassTurnOff")
    secret = emulator.secrets.find(started["client_secret"])
    assert secret is not None and secret.model == "gpt-realtime"
    session = secret.session
    assert "Kitchen Lights" in session["instructions"]  # exposed entities, rendered
    assert {tool["name"] for tool in session["tools"]} == set(started["tools"])
    detection = session["audio"]["input"]["turn_detection"]
    assert detection["type"] == "server_vad"
    assert detection["create_response"] and detection["interrupt_response"]
    assert session["audio"]["input"]["transcription"]["language"] == "en"


@pytest.mark.usefixtures("house")
async def test_admins_only_by_default(hass: HomeAssistant, card_for: Any) -> None:
    """A user who is not an admin is refused in words, and told who can allow it."""
    card = await card_for(GROUP_ID_USER)
    reply = await card.command(type=f"{DOMAIN}/browser/start")
    assert not reply["success"]
    assert reply["error"]["code"] == "unauthorized"
    assert "administrator" in reply["error"]["message"]
    entries = await card.command(type=f"{DOMAIN}/browser/entries")
    assert [e["allowed"] for e in entries["result"]["entries"]] == [False]


class _WhoAmI(llm.Tool):
    name = "WhoAmI"
    description = "Says who is asking."
    parameters = vol.Schema({})

    async def async_call(
        self,
        hass: HomeAssistant,
        tool_input: llm.ToolInput,
        llm_context: llm.LLMContext,
    ) -> Any:
        data = {"user_id": llm_context.context and llm_context.context.user_id}
        result = getattr(llm, "ToolResult", None)  # HA 2026.10+
        return result(data=data) if result is not None else data


class _UserAPI(llm.API):
    """An API for everyone, whose tool tells the user it runs for."""

    async def async_get_api_instance(
        self, llm_context: llm.LLMContext
    ) -> llm.APIInstance:
        return llm.APIInstance(
            api=self, api_prompt="Who.", llm_context=llm_context, tools=[_WhoAmI()]
        )


@pytest.fixture
async def user_api(hass: HomeAssistant) -> AsyncIterator[None]:
    """The "user_api" LLM API (its tool: WhoAmI)."""
    assert await async_setup_component(hass, "homeassistant", {})
    unregister = llm.async_register_api(
        hass, _UserAPI(hass=hass, id="user_api", name="Users")
    )
    yield
    unregister()


@pytest.mark.entry_options(
    {CONF_BROWSER_ACCESS: "users", CONF_LLM_HASS_API: ["assist", "user_api"]}
)
@pytest.mark.usefixtures("user_api", "house")
async def test_any_user_when_the_option_allows_and_tools_run_as_that_user(
    hass: HomeAssistant, card_for: Any
) -> None:
    """With "any user", a user's call may switch the kitchen lights, and every
    tool call runs with that user's context (HA checks their permissions)."""
    user = await card_for(GROUP_ID_USER)
    started = await user.start()
    off = _wire_name(started, "HassTurnOff")
    output = await user.tool(started["handle"], off, name="kitchen lights")
    assert "error" not in output, output
    assert hass.states.get(KITCHEN).state == "off"
    who = await user.tool(started["handle"], _wire_name(started, "WhoAmI"))
    assert who == {"user_id": user.user.id}


@pytest.mark.usefixtures("house")
async def test_an_entity_not_exposed_to_assist_is_out_of_reach(
    hass: HomeAssistant, card_for: Any
) -> None:
    """Exposure rules apply: an unexposed light is neither in the prompt nor
    switchable by a tool call."""
    async_expose_entity(hass, "conversation", CEILING, False)
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    off = _wire_name(started, "HassTurnOff")
    output = await card.tool(started["handle"], off, name="ceiling lights")
    assert "error" in json.dumps(output), output
    assert hass.states.get(CEILING).state == "on"


class _AdminAPI(llm.API):
    """An admin-only API whose one tool records that it ran."""

    ran: list[str]

    async def async_get_api_instance(
        self, llm_context: llm.LLMContext
    ) -> llm.APIInstance:
        return llm.APIInstance(
            api=self,
            api_prompt="Admin.",
            llm_context=llm_context,
            tools=[_Secret(self)],
        )


class _Secret(llm.Tool):
    name = "OpenTheSafe"
    description = "Admins only."
    parameters = vol.Schema({})

    def __init__(self, api: _AdminAPI) -> None:
        self.api = api

    async def async_call(
        self,
        hass: HomeAssistant,
        tool_input: llm.ToolInput,
        llm_context: llm.LLMContext,
    ) -> Any:
        self.api.ran.append(str(llm_context.context and llm_context.context.user_id))
        data = {"success": True}
        result = getattr(llm, "ToolResult", None)  # HA 2026.10+
        return result(data=data) if result is not None else data


@pytest.fixture
async def admin_api(hass: HomeAssistant) -> AsyncIterator[_AdminAPI]:
    """An admin-only LLM API registered as "admin_api"."""
    assert await async_setup_component(hass, "homeassistant", {})
    api = _AdminAPI(hass=hass, id="admin_api", name="Admin")
    api.requires_admin = True  # a field since HA 2026.11
    api.ran = []
    unregister = llm.async_register_api(hass, api)
    yield api
    unregister()


@pytest.mark.entry_options(
    {CONF_BROWSER_ACCESS: "users", CONF_LLM_HASS_API: ["assist", "admin_api"]}
)
async def test_a_user_is_refused_an_admin_only_tool(
    hass: HomeAssistant, admin_api: _AdminAPI, house: MockConfigEntry, card_for: Any
) -> None:
    """Admin-only APIs are left out of a non-admin's session, and a call to their
    tool by name is refused without running it; an admin gets and runs it."""
    user = await card_for(GROUP_ID_USER)
    started = await user.start()
    assert not [name for name in started["tools"] if name.endswith("OpenTheSafe")]
    output = await user.tool(started["handle"], "OpenTheSafe")
    assert "not found" in json.dumps(output)
    assert admin_api.ran == []

    admin = await card_for(GROUP_ID_ADMIN)
    started = await admin.start()
    name = _wire_name(started, "OpenTheSafe")
    assert await admin.tool(started["handle"], name) == {"success": True}
    assert admin_api.ran == [admin.user.id]


@pytest.mark.entry_options({CONF_BROWSER_ACCESS: "users"})
@pytest.mark.usefixtures("house")
async def test_a_call_serves_only_the_user_who_started_it(
    hass: HomeAssistant, card_for: Any
) -> None:
    """Another user cannot run tools or write turns with someone's handle."""
    owner = await card_for(GROUP_ID_ADMIN)
    started = await owner.start()
    other = await card_for(GROUP_ID_USER)
    reply = await other.command(
        type=f"{DOMAIN}/browser/tool",
        handle=started["handle"],
        call_id="call_1",
        name=_wire_name(started, "HassTurnOff"),
        arguments=json.dumps({"name": "kitchen lights"}),
    )
    assert reply["error"]["code"] == "unauthorized"
    reply = await other.command(
        type=f"{DOMAIN}/browser/turn", handle=started["handle"], user_text="hi"
    )
    assert reply["error"]["code"] == "unauthorized"
    assert hass.states.get(KITCHEN).state == "on"


@pytest.mark.usefixtures("house")
async def test_the_client_secret_expires(
    hass: HomeAssistant, emulator: RealtimeEmulator, card_for: Any
) -> None:
    """The key starts calls for a minute only; a new start mints a new one."""
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    async with aiohttp.ClientSession() as http:

        async def offer(secret: str) -> int:
            async with http.post(
                started["calls_url"],
                data="v=0\r\n",
                headers={
                    "Authorization": f"Bearer {secret}",
                    "Content-Type": "application/sdp",
                },
            ) as response:
                return response.status

        assert await offer(started["client_secret"]) == 400  # live: a bad SDP
        emulator.clock_offset = 61
        assert await offer(started["client_secret"]) == 401  # expired
        again = await card.start()
        assert again["client_secret"] != started["client_secret"]
        assert await offer(again["client_secret"]) == 400


@pytest.mark.usefixtures("house")
async def test_an_endpoint_without_client_secrets_is_explained(
    hass: HomeAssistant, emulator: RealtimeEmulator, card_for: Any
) -> None:
    """A compatible server that answers 404: the card says it is not available."""
    emulator.options.client_secret_status = 404
    card = await card_for(GROUP_ID_ADMIN)
    reply = await card.command(type=f"{DOMAIN}/browser/start")
    assert reply["error"]["code"] == "unavailable"
    assert "not available on this endpoint" in reply["error"]["message"]


@pytest.mark.entry_options({CONF_MODEL: "gpt-4o-realtime-preview"})
@pytest.mark.usefixtures("house")
async def test_a_beta_model_has_no_browser_path(
    hass: HomeAssistant, card_for: Any
) -> None:
    """The retired preview models speak the beta protocol: not available."""
    card = await card_for(GROUP_ID_ADMIN)
    reply = await card.command(type=f"{DOMAIN}/browser/start")
    assert reply["error"]["code"] == "unavailable"


def _usage(audio_out: int) -> dict[str, Any]:
    return {
        "total_tokens": 300 + audio_out,
        "input_tokens": 300,
        "output_tokens": audio_out,
        "input_token_details": {"text_tokens": 250, "audio_tokens": 50},
        "output_token_details": {"text_tokens": 0, "audio_tokens": audio_out},
    }


@pytest.mark.usefixtures("house")
async def test_a_finished_turn_lands_in_the_chat_log_and_the_costs(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    card_for: Any,
) -> None:
    """The user's words, the tool call HA ran and its result, and the answer are
    the conversation's ChatLog; the usage counts; automations hear of it (bus
    event and Turn event entity); a typed turn in the same conversation has them
    in its context."""
    turns = async_capture_events(hass, EVENT_TURN)
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    off = _wire_name(started, "HassTurnOff")
    call = await card.command(
        type=f"{DOMAIN}/browser/tool",
        handle=started["handle"],
        call_id="call_abc",
        name=off,
        arguments=json.dumps({"name": "kitchen lights"}),
    )
    assert call["success"]
    usage = config_entry.runtime_data.usage
    before = usage.totals.responses
    report = {
        "type": f"{DOMAIN}/browser/turn",
        "handle": started["handle"],
        "user_text": "turn off the kitchen lights",
        "parts": [
            {"type": "function_call", "call_id": "call_abc"},
            {
                "type": "message",
                "response_id": "resp_2",
                "transcript": "Turned off the kitchen lights.",
            },
        ],
        "responses": [
            {"id": "resp_1", "status": "completed", "usage": _usage(0)},
            {"id": "resp_2", "status": "completed", "usage": _usage(40)},
        ],
    }
    reply = await card.command(**report)
    assert reply["success"], reply
    conversation_id = reply["result"]["conversation_id"]
    assert conversation_id == started["conversation_id"]
    # Sent twice (a retry): counted once.
    assert (await card.command(**report))["success"]

    with (
        get_chat_session(hass, conversation_id) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        contents = [
            (type(c).__name__, getattr(c, "content", None)) for c in chat_log.content
        ]
        calls = [c for c in chat_log.content if getattr(c, "tool_calls", None)]
    assert contents[1:4] == [
        ("UserContent", "turn off the kitchen lights"),
        ("AssistantContent", None),
        ("ToolResultContent", None),
    ]
    assert contents[4] == ("AssistantContent", "Turned off the kitchen lights.")
    assert calls[0].tool_calls[0].tool_args == {"name": "kitchen lights"}
    assert usage.totals.responses == before + 2
    assert usage.totals.output_audio_tokens >= 40
    assert turns[0].data["conversation_id"] == conversation_id
    assert turns[0].data["tool_calls"][0]["short_name"] == "HassTurnOff"
    assert turns[0].data["usage"]["output_audio_tokens"] == 40
    # The Turn event entity (automations made in the editor) hears it too.
    event = hass.states.get("event.realtime_emulator_turn")
    assert event is not None
    assert event.attributes["event_type"] == "answered"
    assert event.attributes["conversation_id"] == conversation_id
    assert event.attributes["text"] == "Turned off the kitchen lights."

    # A typed follow-up of the same user, in the same conversation, knows it.
    result = await conversation.async_converse(
        hass,
        "hello",
        conversation_id,
        Context(user_id=card.user.id),
        language="en",
        agent_id=AGENT,
    )
    assert result.conversation_id == conversation_id
    texts = [
        part.get("text")
        for item in emulator.sessions[-1].items
        if item["type"] == "message"
        for part in item["content"]
    ]
    assert texts[:2] == [
        "turn off the kitchen lights",
        "Turned off the kitchen lights.",
    ]


@pytest.mark.usefixtures("house")
async def test_an_interrupted_answer_is_kept_as_far_as_it_was_heard(
    hass: HomeAssistant, card_for: Any
) -> None:
    """Barge-in: the server truncated the answer after 1 s of its 5 s; the ChatLog
    keeps the first fifth of its words, marked as cut."""
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    story = " ".join(f"word{n}" for n in range(50))
    reply = await card.command(
        type=f"{DOMAIN}/browser/turn",
        handle=started["handle"],
        user_text="tell me a story",
        parts=[
            {
                "type": "message",
                "response_id": "resp_story",
                "transcript": story,
                "audio_end_ms": 1000,
            }
        ],
        responses=[{"id": "resp_story", "status": "cancelled", "usage": _usage(100)}],
    )
    assert reply["success"], reply
    with (
        get_chat_session(hass, reply["result"]["conversation_id"]) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        answer = chat_log.content[-1].content
    assert answer is not None and answer.endswith("…")
    assert story.startswith(answer.removesuffix("…"))
    heard = len(answer.removesuffix("…"))
    assert len(story) / 5 - 7 <= heard <= len(story) / 5  # whole words only


@pytest.mark.usefixtures("house")
async def test_a_bad_turn_report_is_refused_and_writes_nothing(
    hass: HomeAssistant, card_for: Any
) -> None:
    """Malformed input gets a clear error; the ChatLog is untouched."""
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    reply = await card.command(
        type=f"{DOMAIN}/browser/turn",
        handle=started["handle"],
        user_text="hello",
        parts=[{"type": "message", "audio_end_ms": -5}],
    )
    assert reply["error"]["code"] == "invalid_format"
    reply = await card.command(
        type=f"{DOMAIN}/browser/turn", handle="no-such-call", user_text="hello"
    )
    assert reply["error"]["code"] == "not_found"
    with (
        get_chat_session(hass, started["conversation_id"]) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        assert not [c for c in chat_log.content if c.role == "user"]


@pytest.mark.usefixtures("house")
async def test_a_call_continues_a_typed_conversation(
    hass: HomeAssistant, card_for: Any
) -> None:
    """A call started in a conversation gets its recent turns as items to add."""
    card = await card_for(GROUP_ID_ADMIN)
    typed = await conversation.async_converse(
        hass,
        "hello",
        None,
        Context(user_id=card.user.id),
        language="en",
        agent_id=AGENT,
    )
    started = await card.start(conversation_id=typed.conversation_id)
    assert started["conversation_id"] == typed.conversation_id
    history = started["history"]
    assert history[0] == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hello"}],
    }
    assert history[1]["role"] == "assistant"
    assert history[1]["content"][0]["type"] == "output_text"


async def test_the_integration_serves_and_loads_its_card(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    config_entry: MockConfigEntry,
    hass_client: Any,
) -> None:
    """The card's module is served by the integration and loaded on every page,
    its URL carrying a digest of the file (browsers fetch a new version)."""
    from custom_components.openai_realtime.browser import CARD_FILE, CARD_URL

    assert await async_setup_component(hass, "http", {})
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    hass.config.components.add("frontend")
    loaded: list[str] = []
    with patch(
        "homeassistant.components.frontend.add_extra_js_url",
        lambda _hass, url, es5=False: loaded.append(url),
    ):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert len(loaded) == 1 and loaded[0].startswith(f"{CARD_URL}?v=")
    client = await hass_client()
    response = await client.get(loaded[0])
    assert response.status == 200
    assert await response.text() == CARD_FILE.read_text()
    assert await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.usefixtures("house")
async def test_the_option_sets_who_may_talk(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """The options flow stores "any user"; the entry then serves non-admins."""
    from .forms import submission

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], submission(result, **{CONF_BROWSER_ACCESS: "users"})
    )
    await hass.config_entries.options.async_configure(
        result["flow_id"], submission(result)
    )
    await hass.async_block_till_done()
    assert config_entry.options[CONF_BROWSER_ACCESS] == "users"
    runtime = hass.config_entries.async_get_entry(config_entry.entry_id).runtime_data
    assert runtime.options.browser_access == "users"


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "auth_failed"), (429, "rate_limited"), (503, "cannot_connect")],
)
@pytest.mark.usefixtures("house")
async def test_a_refused_key_request_is_told_in_words(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    config_entry: MockConfigEntry,
    card_for: Any,
    status: int,
    code: str,
) -> None:
    """The endpoint refuses to mint: the card gets a code and words; a rejected
    API key asks the user for a new one (re-authentication)."""
    emulator.options.client_secret_status = status
    card = await card_for(GROUP_ID_ADMIN)
    reply = await card.command(type=f"{DOMAIN}/browser/start")
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    await hass.async_block_till_done()
    reauth = [
        flow
        for flow in hass.config_entries.flow.async_progress()
        if flow["context"].get("source") == "reauth"
    ]
    assert bool(reauth) == (status == 401)


@pytest.mark.usefixtures("house")
async def test_an_unknown_entry_or_call(hass: HomeAssistant, card_for: Any) -> None:
    """A card pointed at an entry that is not set up, or a call that ended."""
    card = await card_for(GROUP_ID_ADMIN)
    reply = await card.command(type=f"{DOMAIN}/browser/start", entry_id="nope")
    assert reply["error"]["code"] == "not_found"
    reply = await card.command(
        type=f"{DOMAIN}/browser/tool",
        handle="gone",
        call_id="call_1",
        name="HassTurnOff",
        arguments="{}",
    )
    assert reply["error"]["code"] == "not_found"


@pytest.mark.usefixtures("house")
async def test_bad_arguments_and_retries_of_a_tool_call(
    hass: HomeAssistant, card_for: Any
) -> None:
    """Arguments that are not a JSON object are an error for the model; the same
    call asked twice runs once; a turn may end with calls and no answer."""
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    off = _wire_name(started, "HassTurnOff")

    async def call(call_id: str, arguments: str) -> Any:
        reply = await card.command(
            type=f"{DOMAIN}/browser/tool",
            handle=started["handle"],
            call_id=call_id,
            name=off,
            arguments=arguments,
        )
        return json.loads(reply["result"]["output"])

    bad = await call("call_bad", "[1, 2]")
    assert "JSON object" in bad["error_text"]
    first = await call("call_off", json.dumps({"name": "kitchen lights"}))
    hass.states.async_set(KITCHEN, "on")  # if it ran again, it would switch off
    assert await call("call_off", json.dumps({"name": "kitchen lights"})) == first
    assert hass.states.get(KITCHEN).state == "on"
    reply = await card.command(
        type=f"{DOMAIN}/browser/turn",
        handle=started["handle"],
        user_text="turn off the kitchen lights",
        parts=[
            {"type": "function_call", "call_id": "call_bad"},
            {"type": "function_call", "call_id": "call_off"},
            {"type": "function_call", "call_id": "call_never_ran"},
        ],
    )
    assert reply["success"], reply
    with (
        get_chat_session(hass, reply["result"]["conversation_id"]) as session,
        conversation.async_get_chat_log(hass, session) as chat_log,
    ):
        kinds = [type(c).__name__ for c in chat_log.content]
        calls = next(c for c in chat_log.content if getattr(c, "tool_calls", None))
    assert kinds[-4:] == [
        "UserContent",
        "AssistantContent",
        "ToolResultContent",
        "ToolResultContent",
    ]
    assert [t.id for t in calls.tool_calls] == ["call_bad", "call_off"]


@pytest.mark.entry_options({CONF_LLM_HASS_API: []})
@pytest.mark.usefixtures("house")
async def test_an_entry_without_tools(hass: HomeAssistant, card_for: Any) -> None:
    """Chat only: no tools in the session, and a call by name is refused."""
    card = await card_for(GROUP_ID_ADMIN)
    started = await card.start()
    assert started["tools"] == []
    output = await card.tool(started["handle"], "HassTurnOff", name="kitchen lights")
    assert "No tools" in output["error_text"]


@pytest.mark.entry_options({"prompt": "{{ broken"})
@pytest.mark.usefixtures("house")
async def test_a_prompt_that_does_not_render(
    hass: HomeAssistant, card_for: Any
) -> None:
    """The instructions template fails: the card is told, nothing is minted."""
    card = await card_for(GROUP_ID_ADMIN)
    reply = await card.command(type=f"{DOMAIN}/browser/start")
    assert reply["error"]["code"] == "llm_api"


@pytest.mark.usefixtures("house")
async def test_old_calls_are_forgotten(hass: HomeAssistant, card_for: Any) -> None:
    """Only the most recent calls are kept per entry."""
    card = await card_for(GROUP_ID_ADMIN)
    with (
        patch("custom_components.openai_realtime.bridge.browser_calls.MAX_CALLS", 1),
        patch(
            "custom_components.openai_realtime.bridge.browser_calls.MAX_TOOL_RESULTS", 1
        ),
    ):
        first = await card.start()
        second = await card.start()
        await card.tool(second["handle"], _wire_name(second, "HassTurnOn"), name="x")
        await card.tool(second["handle"], _wire_name(second, "HassTurnOn"), name="y")
    reply = await card.command(
        type=f"{DOMAIN}/browser/turn", handle=first["handle"], user_text="hi"
    )
    assert reply["error"]["code"] == "not_found"
    runtime = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    assert len(runtime.browser.calls[second["handle"]].results) == 1


def test_the_browser_turn_detection_follows_the_entry() -> None:
    """Semantic VAD stays semantic; otherwise server VAD with the entry's values,
    answering and interruptible either way."""
    from custom_components.openai_realtime.options import EntryOptions

    semantic = EntryOptions(turn_detection="semantic_vad", vad_eagerness="low")
    detection = semantic.browser_turn_detection()
    assert (detection.type, detection.eagerness) == ("semantic_vad", "low")
    assert detection.create_response and detection.interrupt_response
    server = EntryOptions(vad_silence_duration_ms=700).browser_turn_detection()
    assert (server.type, server.silence_duration_ms) == ("server_vad", 700)
