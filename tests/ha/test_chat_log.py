"""The model knows what the house said: the session follows HA's ChatLog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

from homeassistant.components.assist_pipeline.pipeline import (
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from realtime_emulator import RealtimeEmulator

from .conftest import AGENT


@pytest.fixture
async def text_house(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    config_entry: MockConfigEntry,
) -> AsyncIterator[MockConfigEntry]:
    """Demo lights and a text pipeline on our agent, preferring local commands."""
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    with patch(
        "homeassistant.components.demo.COMPONENTS_WITH_CONFIG_ENTRY_DEMO_PLATFORM",
        ["light"],
    ):
        assert await hass.config_entries.async_setup(demo.entry_id)
        assert await async_setup_component(hass, "assist_pipeline", {})
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await async_update_pipeline(
            hass,
            async_get_pipeline(hass),
            conversation_engine=AGENT,
            conversation_language="en",
            language="en",
            prefer_local_intents=True,
        )
        yield config_entry
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.config_entries.async_unload(demo.entry_id)


async def _type(client: Any, text: str, conversation_id: str | None) -> dict[str, Any]:
    """A typed pipeline run (intent stage only), as the Assist dialog does it."""
    await client.send_json_auto_id(
        {
            "type": "assist_pipeline/run",
            "start_stage": "intent",
            "end_stage": "intent",
            "input": {"text": text},
            "conversation_id": conversation_id,
        }
    )
    assert (await client.receive_json())["success"]
    while True:
        event = (await client.receive_json())["event"]
        if event["type"] == "intent-end":
            output: dict[str, Any] = event["data"]["intent_output"]
        if event["type"] == "run-end":
            return output
        assert event["type"] != "error", event


def _texts(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, text) of the emulator's conversation items, in order; the clock
    (a system item HA 2025.4 puts before every turn) left out."""
    return [
        (item.get("role", item["type"]), part.get("text") or part.get("transcript", ""))
        for item in items
        if item["type"] == "message" and item.get("role") != "system"
        for part in item["content"]
    ]


@pytest.mark.usefixtures("text_house")
async def test_a_follow_up_knows_the_command_ha_answered_itself(
    hass: HomeAssistant, emulator: RealtimeEmulator, hass_ws_client: Any
) -> None:
    """ "Turn off the kitchen lights" is answered by HA (prefer local); the next
    turn, answered by the model, has it in its context, in order."""
    client = await hass_ws_client(hass)
    first = await _type(client, "turn off the kitchen lights", None)
    assert hass.states.get("light.kitchen_lights").state == "off"
    local_answer = first["response"]["speech"]["plain"]["speech"]
    assert first["response"]["response_type"] == "action_done"

    second = await _type(client, "hello", first["conversation_id"])
    assert second["conversation_id"] == first["conversation_id"]
    third = await _type(client, "hello again", first["conversation_id"])

    session = emulator.sessions[-1]
    assert _texts(session.items) == [
        ("user", "turn off the kitchen lights"),
        ("assistant", local_answer),
        ("user", "hello"),
        ("assistant", second["response"]["speech"]["plain"]["speech"]),
        ("user", "hello again"),
        ("assistant", third["response"]["speech"]["plain"]["speech"]),
    ]
