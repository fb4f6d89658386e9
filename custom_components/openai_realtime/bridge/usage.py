"""Token usage and cost of every response an entry's realtime sessions produce.

The pool hands every `response.done` of every session here (agent turns, voice
turns, eager answers that were cancelled, read-aloud TTS), so nothing billed is
missed. Totals are kept per model and priced with the prices configured now, so
entering the prices of a model later prices what it already used.

Persistence is a `Store`, not RestoreSensor: the totals belong to the entry, not
to one entity. Several sensors show the same counters, some of them disabled (a
disabled RestoreSensor would lose its share), and diagnostics read them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from ..const import DEFAULT_PRICES, DOMAIN, PRICE_FIELDS
from ..realtime import events as ev

if TYPE_CHECKING:
    from collections.abc import Callable

STORAGE_VERSION = 1
# A busy conversation writes once a minute, not once per response; unload and HA's
# final write flush whatever is pending.
SAVE_DELAY = 60.0
TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are USD per 1M tokens

type Prices = Mapping[str, Mapping[str, float]]


@dataclass(slots=True)
class UsageTotals:
    """Responses and tokens summed over many responses.

    Input text/audio include their cached part (as on the wire); the cost charges
    the cached part at the cached rate.
    """

    responses: int = 0
    input_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    cached_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    output_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def add_response(self, usage: ev.Usage | None) -> None:
        """Count one response and its (normalised) usage."""
        self.responses += 1
        if usage is not None:
            self._add(_normalised(usage))

    def _add(self, counts: ev.Usage | UsageTotals) -> None:
        # Our counters are the usage's fields (plus `responses`): add them by name.
        for item in fields(counts):
            setattr(
                self, item.name, getattr(self, item.name) + getattr(counts, item.name)
            )

    def merge(self, other: UsageTotals) -> None:
        """Add another set of totals to this one."""
        self._add(other)

    def as_dict(self) -> dict[str, int]:
        """Plain counters (stored, and shown in diagnostics)."""
        return asdict(self) | {"total_tokens": self.total_tokens}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageTotals:
        """Read stored counters, ignoring anything that is not a count."""
        return cls(
            **{
                item.name: value
                for item in fields(cls)
                if isinstance(value := data.get(item.name), int)
                and not isinstance(value, bool)
            }
        )


def _normalised(usage: ev.Usage) -> ev.Usage:
    """Fill in splits a server left out so every token has a price.

    Beta servers may omit the cached text/audio split: the cached prefix starts
    with the instructions and tools, which are text, so text is filled first. Input
    or output the server did not split at all is counted as text.
    """
    in_text = usage.input_text_tokens + max(
        usage.input_tokens - usage.input_text_tokens - usage.input_audio_tokens, 0
    )
    unsplit = max(
        usage.cached_tokens - usage.cached_text_tokens - usage.cached_audio_tokens, 0
    )
    cached_text = min(in_text, usage.cached_text_tokens + unsplit)
    cached_audio = (
        usage.cached_audio_tokens + unsplit - (cached_text - usage.cached_text_tokens)
    )
    out_text = usage.output_text_tokens + max(
        usage.output_tokens - usage.output_text_tokens - usage.output_audio_tokens, 0
    )
    return ev.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        input_text_tokens=in_text,
        input_audio_tokens=usage.input_audio_tokens,
        cached_tokens=usage.cached_tokens,
        cached_text_tokens=cached_text,
        cached_audio_tokens=cached_audio,
        output_text_tokens=out_text,
        output_audio_tokens=usage.output_audio_tokens,
    )


def usage_cost(totals: UsageTotals, prices: Mapping[str, float]) -> float:
    """What `totals` cost at `prices` (USD per 1M tokens, keys of PRICE_FIELDS)."""
    tokens = {
        "text_in": totals.input_text_tokens - totals.cached_text_tokens,
        "cached_text_in": totals.cached_text_tokens,
        "text_out": totals.output_text_tokens,
        "audio_in": totals.input_audio_tokens - totals.cached_audio_tokens,
        "cached_audio_in": totals.cached_audio_tokens,
        "audio_out": totals.output_audio_tokens,
    }
    usd = sum(prices[name] * max(count, 0) for name, count in tokens.items())
    return usd / TOKENS_PER_PRICE_UNIT


def model_prices(entered: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Every model with a complete price list; entered prices override defaults."""
    merged: dict[str, Any] = {**DEFAULT_PRICES, **entered}
    return {
        model: {name: float(prices[name]) for name in PRICE_FIELDS}
        for model, prices in merged.items()
        if isinstance(prices, Mapping)
        and all(isinstance(prices.get(name), int | float) for name in PRICE_FIELDS)
    }


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.usage.{entry_id}")


async def async_remove_usage(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's stored totals (the entry was removed)."""
    await _store(hass, entry_id).async_remove()


class UsageAccountant:
    """The usage totals of one config entry, persisted and announced on change."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, model: str, prices: Prices
    ) -> None:
        """Count responses for `model` (fixed until the entry reloads)."""
        self.model = model
        self.prices = prices
        self.by_model: dict[str, UsageTotals] = {}
        self._store = _store(hass, entry_id)
        self._listeners: list[Callable[[], None]] = []
        self._dirty = False

    async def async_load(self) -> None:
        """Read the totals saved before the last restart or reload."""
        data = await self._store.async_load() or {}
        models = data.get("models")
        if isinstance(models, Mapping):
            self.by_model = {
                str(model): UsageTotals.from_dict(totals)
                for model, totals in models.items()
                if isinstance(totals, Mapping)
            }

    @callback
    def async_on_event(self, event: ev.ServerEvent) -> None:
        """Session listener: count every finished response, cancelled ones too."""
        if not isinstance(event, ev.ResponseDone):
            return
        self.by_model.setdefault(self.model, UsageTotals()).add_response(event.usage)
        self._dirty = True
        self._store.async_delay_save(self._stored, SAVE_DELAY)
        for listener in list(self._listeners):
            listener()

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each counted response; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def totals(self) -> UsageTotals:
        """The totals over every model this entry has used."""
        totals = UsageTotals()
        for per_model in self.by_model.values():
            totals.merge(per_model)
        return totals

    @property
    def unpriced_models(self) -> list[str]:
        """Models that answered but have no prices: their cost is unknown."""
        return sorted(
            model
            for model, totals in self.by_model.items()
            if totals.responses and model not in self.prices
        )

    @property
    def cost_usd(self) -> float | None:
        """Total cost in USD; None while any usage has no price to apply."""
        if self.unpriced_models:
            return None
        return round(
            sum(
                usage_cost(totals, self.prices[model])
                for model, totals in self.by_model.items()
                if totals.responses
            ),
            6,  # micro-dollars: beyond that it is float noise
        )

    def as_dict(self) -> dict[str, Any]:
        """Totals, per model and overall, and the cost (for diagnostics)."""
        return {
            "model": self.model,
            "totals": self.totals.as_dict(),
            "cost_usd": self.cost_usd,
            "unpriced_models": self.unpriced_models,
            "by_model": {m: t.as_dict() for m, t in self.by_model.items()},
        }

    def _stored(self) -> dict[str, Any]:
        return {"models": {m: t.as_dict() for m, t in self.by_model.items()}}

    async def async_close(self) -> None:
        """Write pending totals now (unload) and stop the delayed save."""
        if self._dirty:
            self._dirty = False
            await self._store.async_save(self._stored())
