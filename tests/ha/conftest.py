"""Fixtures for tests that run Home Assistant."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

import custom_components.openai_realtime  # noqa: F401


@pytest.fixture(autouse=True)
async def ha_core(hass: HomeAssistant, enable_custom_integrations: None) -> None:
    """The core integration (exposure settings live there) and our custom ones."""
    assert await async_setup_component(hass, "homeassistant", {})
