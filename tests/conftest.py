"""Shared fixtures: the local Realtime API emulator on a loopback port, and entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

# Import our package first: the harness otherwise resolves `custom_components` to its
# own testing package.
import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS
from custom_components.openai_realtime.const import (
    CONF_API_KEY,
    CONF_BASE_URL,
    CONF_ENDPOINT_KIND,
    DOMAIN,
    ENDPOINT_CUSTOM,
)

if TYPE_CHECKING:
    from realtime_emulator import RealtimeEmulator

API_KEY = "sk-test-emulator-key"


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Allow sockets: the harness still restricts connections to 127.0.0.1."""


@pytest.fixture
async def emulator() -> AsyncIterator[RealtimeEmulator]:
    """A Realtime API emulator on 127.0.0.1, accepting API_KEY only."""
    from realtime_emulator import EmulatorOptions, RealtimeEmulator

    emu = RealtimeEmulator(EmulatorOptions(api_keys={API_KEY}))
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


def entry_data(emulator: RealtimeEmulator, api_key: str = API_KEY) -> dict[str, Any]:
    """Config entry data pointing at the emulator."""
    return {
        CONF_ENDPOINT_KIND: ENDPOINT_CUSTOM,
        CONF_BASE_URL: emulator.base_url,
        CONF_API_KEY: api_key,
    }


@pytest.fixture
def config_entry(hass: HomeAssistant, emulator: RealtimeEmulator) -> MockConfigEntry:
    """A config entry for the emulator, added to hass but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Realtime (emulator)",
        data=entry_data(emulator),
        options=dict(DEFAULT_OPTIONS),
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def setup_integration(
    hass: HomeAssistant,
    enable_custom_integrations: None,
    config_entry: MockConfigEntry,
) -> MockConfigEntry:
    """Home Assistant with our entry set up against the emulator."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry
