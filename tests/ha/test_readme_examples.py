"""The README's automation examples, run as printed there.

Each example in README.md follows a marker `<!-- example: KIND NAME -->`: KIND
`automation` is one automation as the editor's YAML mode takes it, `configuration`
a piece of `configuration.yaml`. The tests read them from the README itself, so
what the README shows is what runs here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
import json
from pathlib import Path
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import conversation
from homeassistant.const import EVENT_CALL_SERVICE
from homeassistant.core import Context, Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import parse_yaml
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS
from custom_components.openai_realtime.const import (
    CONF_PRICES,
    DEFAULT_PRICES,
    DOMAIN,
)
from custom_components.openai_realtime.realtime.read_aloud import (
    READ_ALOUD_INSTRUCTIONS,
)
from realtime_emulator import (
    CallTool,
    HouseBrain,
    RealtimeEmulator,
    Say,
    TurnContext,
)

from ..conftest import entry_data
from .conftest import bus_wait_for
from .satellite import KitchenSatellite

README = Path(__file__).resolve().parents[2] / "README.md"
_EXAMPLE = re.compile(
    r"<!-- example: (?P<kind>\w+) (?P<name>\w+) -->\n```yaml\n(?P<yaml>.*?)```",
    re.DOTALL,
)
TESTED = {"doorbell", "cost_today", "cost_alert", "nightly_summary"}
# Prices at a thousand times the list price: one typed turn passes one dollar.
DEAR_PRICES = {
    "gpt-realtime": {k: v * 1000 for k, v in DEFAULT_PRICES["gpt-realtime"].items()}
}


def _examples() -> dict[str, tuple[str, Any]]:
    """The README's examples by name: (kind, parsed YAML)."""
    return {
        match["name"]: (match["kind"], parse_yaml(match["yaml"]))
        for match in _EXAMPLE.finditer(README.read_text(encoding="utf-8"))
    }


async def _load(hass: HomeAssistant, *names: str) -> None:
    """Set up the named examples: configuration pieces, then automations."""
    examples = _examples()
    assert await async_setup_component(hass, "persistent_notification", {})
    automations = []
    for name in names:
        kind, config = examples[name]
        if kind == "configuration":
            for domain, domain_config in config.items():
                assert await async_setup_component(
                    hass, domain, {domain: domain_config}
                )
        else:
            assert kind == "automation", kind
            automations.append(config)
    assert await async_setup_component(hass, "automation", {"automation": automations})
    await hass.async_block_till_done()


def _notifications(calls: list[Event]) -> list[dict[str, Any]]:
    return [
        dict(call.data["service_data"])
        for call in calls
        if (call.data["domain"], call.data["service"])
        == ("persistent_notification", "create")
    ]


@pytest.fixture
def expected_lingering_timers() -> bool:
    """HA's own: the utility meter's daily reset and the time trigger (YAML
    set-ups are never unloaded) keep their timers after the test."""
    return True


@pytest.fixture
def config_entry(hass: HomeAssistant, emulator: RealtimeEmulator) -> MockConfigEntry:
    """The entry as the README names it: *OpenAI Realtime* (here on the emulator)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="OpenAI Realtime",
        data=entry_data(emulator),
        options=dict(DEFAULT_OPTIONS) | {CONF_PRICES: DEAR_PRICES},
    )
    entry.add_to_hass(hass)
    return entry


def test_every_example_is_tested() -> None:
    """A new example in the README needs a test here."""
    assert set(_examples()) == TESTED


@dataclass
class DoorbellBrain:
    """Turns the entrance light on when the user agrees to the doorbell question,
    and only when the question and the automation's prompt are in its context."""

    def respond(self, ctx: TurnContext) -> list[Any]:
        if READ_ALOUD_INSTRUCTIONS in ctx.instructions:
            return HouseBrain().respond(ctx)
        if ctx.tool_results_since_user():
            return [Say("The entrance light is on.")]
        asked = any(
            "Shall I turn on the entrance light?" in (part.get("text") or "")
            for item in ctx.items
            if item.get("role") == "assistant"
            for part in item["content"]
        )
        agreed = "yes" in (ctx.last_user_text() or "")
        turn_on = ctx.tool_named("HassTurnOn")
        if asked and agreed and "doorbell just rang" in ctx.instructions and turn_on:
            light = {"name": "Entrance Color + White Lights"}
            return [CallTool(turn_on, json.dumps(light))]
        return [Say("Sorry, what should I do?")]


async def test_doorbell_starts_a_conversation(
    hass: HomeAssistant, emulator: RealtimeEmulator, satellite: KitchenSatellite
) -> None:
    """The doorbell rings: the kitchen satellite asks in our voice, the user says
    yes, and the model turns the entrance light on as the automation asked."""
    emulator.brain = DoorbellBrain()
    await _load(hass, "doorbell")
    await hass.services.async_call(
        "light",
        "turn_off",
        {"entity_id": "light.entrance_color_white_lights"},
        blocking=True,
    )
    satellite.replies = ["yes please"]
    hass.states.async_set("binary_sensor.doorbell", "off")
    hass.states.async_set("binary_sensor.doorbell", "on")
    await hass.async_block_till_done()
    await satellite.wait_idle()
    assert satellite.played == [
        "someone is at the front door. shall i turn on the entrance light?",
        "the entrance light is on.",
    ]
    assert hass.states.get("light.entrance_color_white_lights").state == "on"


async def test_cost_alert_through_a_daily_utility_meter(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """Today's cost, metered daily from our Cost sensor, passes one dollar: the
    notification names the amount."""
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await _load(hass, "cost_today", "cost_alert")
    assert hass.states.get("sensor.openai_realtime_cost") is not None
    await conversation.async_converse(
        hass, "hello", None, Context(), agent_id="conversation.openai_realtime"
    )
    await hass.async_block_till_done()
    cost = float(hass.states.get("sensor.openai_realtime_cost").state)
    today = float(hass.states.get("sensor.openai_realtime_cost_today").state)
    assert today == pytest.approx(cost) and today > 1
    await bus_wait_for(hass, lambda: bool(_notifications(calls)), "the notification")
    (notification,) = _notifications(calls)
    assert notification["title"] == "OpenAI Realtime"
    assert notification["message"] == (
        f"The voice assistant has cost {round(today, 2)} USD today."
    )


async def test_nightly_summary_through_conversation_process(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    voice_house: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At 21:30 the model reads the house (a live-context tool call through
    Assist) and its summary becomes a notification."""

    @dataclass
    class SummaryBrain:
        def respond(self, ctx: TurnContext) -> list[Any]:
            if ctx.tool_results_since_user():
                return [Say("Six lights are on. Nothing else is unusual.")]
            live = ctx.tool_named("GetLiveContext")
            assert live is not None
            return [CallTool(live, "{}")]

    emulator.brain = SummaryBrain()
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await _load(hass, "nightly_summary")
    now = dt_util.now()
    night = now.replace(hour=21, minute=30, second=0, microsecond=0)
    if night <= now:
        night += timedelta(days=1)
    freezer.move_to(night)
    async_fire_time_changed(hass, night)
    await hass.async_block_till_done()
    (notification,) = _notifications(calls)
    assert notification == {
        "title": "The house tonight",
        "message": "Six lights are on. Nothing else is unusual.",
    }
    outputs = [
        e["item"]["output"]
        for s in emulator.sessions
        for e in s.received
        if e["type"] == "conversation.item.create"
        and e["item"]["type"] == "function_call_output"
    ]
    assert len(outputs) == 1 and "Kitchen Lights" in outputs[0]
