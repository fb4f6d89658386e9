"""The `scripts/develop` seed: restarts keep the user's entries and the usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.components import conversation
from homeassistant.components.assist_pipeline.pipeline import async_get_pipeline
from homeassistant.core import Context, HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import (
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_ENDPOINT_KIND,
    DOMAIN,
    ENDPOINT_CUSTOM,
)
from realtime_emulator import EmulatorOptions, RealtimeEmulator
from scripts import dev_seed

from ..conftest import API_KEY

USER_KEY = "sk-the-users-own"


def _wanted(emulator: RealtimeEmulator) -> dict[str, Any]:
    """What scripts/dev_config.py writes for an emulator on that port."""
    return {
        CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
        CONF_BASE_URL: emulator.base_url,
        CONF_API_KEY: API_KEY,
    }


@pytest.fixture
async def other_emulator() -> AsyncIterator[RealtimeEmulator]:
    """The emulator of the next `scripts/develop --emulator-port ...`."""
    emu = RealtimeEmulator(EmulatorOptions(api_keys={API_KEY}))
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def house(hass: HomeAssistant, ffmpeg: str) -> AsyncIterator[None]:
    """What the seed needs loaded: conversation and assist_pipeline."""
    assert await async_setup_component(hass, "conversation", {})
    assert await async_setup_component(hass, "assist_pipeline", {})
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)


def _pipeline_uses(hass: HomeAssistant, entry: config_entries.ConfigEntry) -> bool:
    pipeline = async_get_pipeline(hass)  # the preferred one
    agent = entry.runtime_data.agent_entity_id()
    return (
        pipeline.name == dev_seed.PIPELINE_NAME
        and pipeline.conversation_engine == agent
    )


@pytest.mark.usefixtures("house")
async def test_another_emulator_port_keeps_entries_and_usage(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    other_emulator: RealtimeEmulator,
) -> None:
    """The seeded entry moves to the new port in place, with its usage totals; an
    entry the user added stays; the pipeline speaks in the entry's voice."""
    emulator.options.api_keys = {API_KEY, USER_KEY}
    assert await dev_seed._async_seed_entry(hass, _wanted(emulator))
    [seeded] = hass.config_entries.async_entries(DOMAIN)
    assert _pipeline_uses(hass, seeded)
    assert async_get_pipeline(hass).tts_voice == "marin"

    # The user adds an entry of their own and talks to the seeded assistant.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": ENDPOINT_CUSTOM}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_URL: emulator.base_url, CONF_API_KEY: USER_KEY}
    )
    users = result["result"]
    await hass.async_block_till_done()
    await conversation.async_converse(
        hass,
        "hello",
        None,
        Context(),
        language="en",
        agent_id=seeded.runtime_data.agent_entity_id(),
    )
    assert seeded.runtime_data.usage.totals.responses == 1

    # scripts/develop --emulator-port <another>
    assert await dev_seed._async_seed_entry(hass, _wanted(other_emulator))
    entries = hass.config_entries.async_entries(DOMAIN)
    assert [e.entry_id for e in entries] == [seeded.entry_id, users.entry_id]
    assert seeded.data[CONF_BASE_URL] == other_emulator.base_url
    assert seeded.title == f"Realtime (127.0.0.1:{other_emulator.port}/v1)"
    assert seeded.state is config_entries.ConfigEntryState.LOADED
    assert seeded.runtime_data.usage.totals.responses == 1
    assert users.data[CONF_BASE_URL] == emulator.base_url
    assert users.state is config_entries.ConfigEntryState.LOADED
    assert _pipeline_uses(hass, seeded)

    # The same port again changes nothing.
    assert await dev_seed._async_seed_entry(hass, _wanted(other_emulator))
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


@pytest.mark.usefixtures("house")
async def test_real_and_emulator_entries_take_turns(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """`--real` gets an entry of its own; the emulator's is disabled meanwhile
    (not removed), and enabled again when the emulator is back."""
    # OpenAI's URL is the emulator's here: this test must not leave the machine.
    with patch(
        "custom_components.openai_realtime.config_flow.OPENAI_BASE_URL",
        emulator.base_url,
    ):
        assert await dev_seed._async_seed_entry(hass, _wanted(emulator))
        [local] = hass.config_entries.async_entries(DOMAIN)
        assert await dev_seed._async_seed_entry(
            hass, {CONF_ENDPOINT_KIND: "openai", CONF_API_KEY: API_KEY}
        )
        real = next(e for e in hass.config_entries.async_entries(DOMAIN) if e != local)
        await hass.async_block_till_done()
        assert local.disabled_by is config_entries.ConfigEntryDisabler.USER
        assert real.state is config_entries.ConfigEntryState.LOADED
        assert _pipeline_uses(hass, real)

        assert await dev_seed._async_seed_entry(hass, _wanted(emulator))
        await hass.async_block_till_done()
        assert len(hass.config_entries.async_entries(DOMAIN)) == 2
        assert local.disabled_by is None
        assert local.state is config_entries.ConfigEntryState.LOADED
        assert real.disabled_by is config_entries.ConfigEntryDisabler.USER
        assert _pipeline_uses(hass, local)


@pytest.mark.usefixtures("house")
async def test_the_entry_an_earlier_seed_made_is_adopted(
    hass: HomeAssistant, emulator: RealtimeEmulator, other_emulator: RealtimeEmulator
) -> None:
    """A .dev/ from before the seed remembered its entry holds exactly one: it is
    moved, not duplicated."""
    old = MockConfigEntry(
        domain=DOMAIN,
        title=f"Realtime (127.0.0.1:{emulator.port}/v1)",
        data=_wanted(emulator),
    )
    old.add_to_hass(hass)
    assert await hass.config_entries.async_setup(old.entry_id)
    assert await dev_seed._async_seed_entry(hass, _wanted(other_emulator))
    assert hass.config_entries.async_entries(DOMAIN) == [old]
    assert old.data[CONF_BASE_URL] == other_emulator.base_url
