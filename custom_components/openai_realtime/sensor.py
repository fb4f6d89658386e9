"""Usage sensors: tokens, responses and cost of the entry's realtime sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory

from .entity import OpenAIRealtimeEntity

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddEntitiesCallback

    from .bridge.usage import UsageAccountant
    from .entry import OpenAIRealtimeConfigEntry

TOKENS = "tokens"

# Pushed by the usage accountant when a response is counted: nothing is polled.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class UsageSensorDescription(SensorEntityDescription):
    """A usage sensor: how to read its value (and attributes) from the accountant."""

    value_fn: Callable[[UsageAccountant], float | None]
    attributes_fn: Callable[[UsageAccountant], dict[str, Any]] | None = None


def _tokens(key: str, *, detail: bool = False) -> UsageSensorDescription:
    """A token counter; `key` names both the sensor and the UsageTotals field.

    Detail counters (the splits that explain a bill) are diagnostic and disabled
    by default.
    """
    return UsageSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=not detail,
        entity_category=EntityCategory.DIAGNOSTIC if detail else None,
        value_fn=lambda usage: getattr(usage.totals, key),
    )


# Enabled by default: what most people chart (tokens in/out, responses, cost). The
# text/audio/cached splits explain a bill: diagnostic, and one click away.
SENSORS: tuple[UsageSensorDescription, ...] = (
    UsageSensorDescription(
        key="cost",
        translation_key="cost",
        device_class=SensorDeviceClass.MONETARY,
        native_unit_of_measurement="USD",
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=3,
        value_fn=lambda usage: usage.cost_usd,
        attributes_fn=lambda usage: {"unpriced_models": usage.unpriced_models},
    ),
    UsageSensorDescription(
        key="responses",
        translation_key="responses",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda usage: usage.totals.responses,
    ),
    _tokens("input_tokens"),
    _tokens("output_tokens"),
    _tokens("total_tokens", detail=True),
    _tokens("input_text_tokens", detail=True),
    _tokens("input_audio_tokens", detail=True),
    _tokens("cached_tokens", detail=True),
    _tokens("output_text_tokens", detail=True),
    _tokens("output_audio_tokens", detail=True),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: OpenAIRealtimeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """The usage sensors of an entry, on its device."""
    async_add_entities(UsageSensor(entry, description) for description in SENSORS)


class UsageSensor(OpenAIRealtimeEntity, SensorEntity):
    """One usage total; written whenever a response is counted (no polling)."""

    entity_description: UsageSensorDescription

    def __init__(
        self, entry: OpenAIRealtimeConfigEntry, description: UsageSensorDescription
    ) -> None:
        """Bind to the entry's usage accountant."""
        super().__init__(entry, description.key)
        self.entity_description = description
        self._usage = entry.runtime_data.usage

    async def async_added_to_hass(self) -> None:
        """Follow the accountant."""
        await super().async_added_to_hass()
        self.async_on_remove(self._usage.async_add_listener(self.async_write_ha_state))

    @property
    def native_value(self) -> float | None:
        """The current total (None: unknown, e.g. a model without prices)."""
        return self.entity_description.value_fn(self._usage)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Why a value is unknown, where that can happen."""
        if (attributes := self.entity_description.attributes_fn) is None:
            return None
        return attributes(self._usage)
