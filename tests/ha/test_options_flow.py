"""The options flow as the browser shows it: two steps, what applies, prices."""

from __future__ import annotations

from typing import Any

from homeassistant import config_entries
from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.config_flow import DEFAULT_OPTIONS
from custom_components.openai_realtime.const import (
    CONF_LLM_HASS_API,
    CONF_MODEL,
    CONF_PRICES,
    CONF_PROMPT,
    CONF_TEMPERATURE,
    CONF_TURN_DETECTION,
    CONF_VAD_EAGERNESS,
    CONF_VAD_SILENCE_MS,
    CONF_VOICE,
    DEFAULT_PRICES,
    DOMAIN,
    MODELS_GA,
    MODELS_RETIRED,
    PRICE_FIELDS,
)
from custom_components.openai_realtime.options import EntryOptions
from realtime_emulator import RealtimeEmulator

from .forms import fields, section_options, submission

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")

AGENT = "conversation.realtime_emulator"
MINI = "gpt-realtime-mini"
PRICES = "model_prices"
MY_PRICES = dict(zip(PRICE_FIELDS, (1.0, 0.1, 2.0, 3.0, 0.3, 4.0), strict=True))


async def _step_one(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    return result


async def _to_tuning(
    hass: HomeAssistant, entry: MockConfigEntry, **changes: Any
) -> dict[str, Any]:
    """Step 1 submitted as the browser would, with `changes`; returns step 2."""
    result = await _step_one(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], submission(result, **changes)
    )
    assert result["type"] is FlowResultType.FORM, result.get("errors")
    assert result["step_id"] == "tuning"
    return result


async def _save(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    *,
    tuning: dict[str, Any] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """Both steps through, as a user who changes `changes` and then `tuning`."""
    result = await _to_tuning(hass, entry, **changes)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], submission(result, **(tuning or {}))
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()  # the entry reloads with the new options
    return result


def _cost(hass: HomeAssistant, entry: MockConfigEntry) -> float:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}-cost"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return float(state.state)


def _billed(emulator: RealtimeEmulator, prices: dict[str, float]) -> float:
    """What the emulator's reported usage costs at `prices` (no cached input here)."""
    usd = 0.0
    for session in emulator.sessions:
        for event in session.sent:
            if event["type"] != "response.done":
                continue
            usage = event["response"]["usage"]
            details, out = usage["input_token_details"], usage["output_token_details"]
            assert not details.get("cached_tokens")
            usd += (
                details["text_tokens"] * prices["text_in"]
                + details["audio_tokens"] * prices["audio_in"]
                + out["text_tokens"] * prices["text_out"]
                + out["audio_tokens"] * prices["audio_out"]
            )
    return usd / 1_000_000


async def test_changing_the_model_prices_the_new_model(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """Switching to gpt-realtime-mini prices its turns at mini's prices, not at the
    prices the form showed for the model it replaced."""
    entry = setup_integration
    # The user had entered their own prices for gpt-realtime.
    await _save(hass, entry, tuning={PRICES: MY_PRICES})
    assert entry.options[CONF_PRICES] == {"gpt-realtime": MY_PRICES}

    tuning = await _to_tuning(hass, entry, model=MINI)
    assert tuning["description_placeholders"] == {"model": MINI}
    assert submission(tuning)[PRICES] == DEFAULT_PRICES[MINI]
    result = await hass.config_entries.options.async_configure(
        tuning["flow_id"], submission(tuning)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_MODEL] == MINI
    # Mini's list prices are not copied into the entry; gpt-realtime keeps its own.
    assert entry.options[CONF_PRICES] == {"gpt-realtime": MY_PRICES}

    await conversation.async_converse(
        hass, "hello", None, Context(), language="en", agent_id=AGENT
    )
    assert emulator.sessions[-1].model == MINI
    assert _cost(hass, entry) == pytest.approx(
        _billed(emulator, DEFAULT_PRICES[MINI]), abs=1e-6
    )
    assert _cost(hass, entry) < _billed(emulator, DEFAULT_PRICES["gpt-realtime"])


async def test_prices_an_earlier_form_copied_are_dropped(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """Entries that met the bug hold gpt-realtime's list prices under
    gpt-realtime-mini: mini is priced at its own again, in the sensor and in the
    form; prices a user may have meant stay."""
    entry = setup_integration
    stored = {
        MINI: DEFAULT_PRICES["gpt-realtime"],  # the bug's copy
        "my-model": DEFAULT_PRICES["gpt-realtime"],  # no list prices: may be meant
        "gpt-realtime": MY_PRICES,
    }
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_MODEL: MINI, CONF_PRICES: stored}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert dict(EntryOptions.from_mapping(entry.options).prices) == {
        "my-model": DEFAULT_PRICES["gpt-realtime"],
        "gpt-realtime": MY_PRICES,
    }
    await conversation.async_converse(
        hass, "hello", None, Context(), language="en", agent_id=AGENT
    )
    assert _cost(hass, entry) == pytest.approx(
        _billed(emulator, DEFAULT_PRICES[MINI]), abs=1e-6
    )

    tuning = await _to_tuning(hass, entry)
    assert submission(tuning)[PRICES] == DEFAULT_PRICES[MINI]
    await hass.config_entries.options.async_configure(
        tuning["flow_id"], submission(tuning)
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_PRICES] == {
        "my-model": DEFAULT_PRICES["gpt-realtime"],
        "gpt-realtime": MY_PRICES,
    }


async def test_prices_of_a_model_without_list_prices(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """A custom model starts with empty prices; six are stored, one alone is an
    error, none means an unknown cost; list prices are never stored."""
    entry = setup_integration
    tuning = await _to_tuning(hass, entry, model="my-custom-realtime", voice="cedar")
    assert PRICES not in submission(tuning) or not submission(tuning)[PRICES]

    result = await hass.config_entries.options.async_configure(
        tuning["flow_id"], submission(tuning, **{PRICES: {"text_in": 1.0}})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "incomplete_prices"}
    # The form keeps what was typed.
    assert submission(result)[PRICES] == {"text_in": 1.0}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], submission(result, **{PRICES: MY_PRICES})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_MODEL] == "my-custom-realtime"
    assert entry.options[CONF_PRICES] == {"my-custom-realtime": MY_PRICES}
    assert entry.state is config_entries.ConfigEntryState.LOADED

    # Cleared again: no prices, an unknown cost.
    await _save(hass, entry, tuning={PRICES: dict.fromkeys(PRICE_FIELDS)})
    assert entry.options[CONF_PRICES] == {}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({CONF_TURN_DETECTION: "off"}, {PRICES: set(PRICE_FIELDS)}),
        (
            {CONF_TURN_DETECTION: "server_vad"},
            {
                "vad": {
                    "vad_threshold",
                    "vad_prefix_padding_ms",
                    "vad_silence_duration_ms",
                },
                PRICES: set(PRICE_FIELDS),
            },
        ),
        (
            {CONF_TURN_DETECTION: "semantic_vad"},
            {"vad": {"vad_eagerness"}, PRICES: set(PRICE_FIELDS)},
        ),
        (
            {CONF_MODEL: "gpt-4o-realtime-preview", CONF_VOICE: "alloy"},
            {CONF_TEMPERATURE: None, PRICES: set(PRICE_FIELDS)},
        ),
    ],
)
async def test_the_second_step_shows_what_applies(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    changes: dict[str, Any],
    expected: dict[str, set[str] | None],
) -> None:
    """VAD settings only with turn detection, and only the chosen kind's;
    temperature only for a beta-protocol model; the prices folded away."""
    tuning = await _to_tuning(hass, setup_integration, **changes)
    shown = {
        name: set(value) if isinstance(value, dict) else None
        for name, value in fields(tuning).items()
    }
    assert shown == expected
    assert section_options(tuning, PRICES) == {"collapsed": True}
    if "vad" in expected:
        assert section_options(tuning, "vad") == {"collapsed": False}


async def test_vad_settings_are_stored_flat(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Section values land in the options as before (stored options stay readable)."""
    entry = setup_integration
    await _save(
        hass,
        entry,
        turn_detection="server_vad",
        tuning={"vad": {CONF_VAD_SILENCE_MS: 800}},
    )
    assert entry.options[CONF_VAD_SILENCE_MS] == 800
    assert "vad" not in entry.options
    assert PRICES not in entry.options
    assert EntryOptions.from_mapping(entry.options).vad_silence_duration_ms == 800

    await _save(
        hass,
        entry,
        turn_detection="semantic_vad",
        tuning={"vad": {"vad_eagerness": "low"}},
    )
    assert entry.options[CONF_VAD_EAGERNESS] == "low"
    assert entry.options[CONF_VAD_SILENCE_MS] == 800  # kept while not shown


async def test_model_list_ga_first_retired_last(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """GA models first, unmarked; the retired previews last, marked; any id goes."""
    result = await _step_one(hass, setup_integration)
    config = fields(result)[CONF_MODEL].config
    options = config["options"]
    values = [option["value"] for option in options]
    assert values[:2] == ["gpt-realtime", MINI]
    assert values == [*MODELS_GA, *MODELS_RETIRED]
    for option in options:
        retired = option["value"] in MODELS_RETIRED
        assert option["label"].endswith(" (retired)") is retired
    assert config["custom_value"] is True

    # A custom model the user typed before is offered as it is.
    hass.config_entries.async_update_entry(
        setup_integration,
        options={**setup_integration.options, CONF_MODEL: "my-model"},
    )
    await hass.async_block_till_done()
    result = await _step_one(hass, setup_integration)
    values = [o["value"] for o in fields(result)[CONF_MODEL].config["options"]]
    assert "my-model" in values
    assert values.index("my-model") < values.index(MODELS_RETIRED[0])


async def test_cleared_prompt_and_apis_stay_cleared(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """Emptying the instructions or the APIs in the browser stores them empty (the
    form does not put the old value back): HA's default prompt, chat only."""
    entry = setup_integration
    await _save(hass, entry, prompt=None, llm_hass_api=None)
    assert entry.options[CONF_PROMPT] == ""
    assert entry.options[CONF_LLM_HASS_API] == []
    options = EntryOptions.from_mapping(entry.options)
    assert options.prompt == ""
    assert options.llm_hass_api == ()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {CONF_MODEL: "gpt-4o-realtime-preview", CONF_VOICE: "marin"},
            {CONF_VOICE: "invalid_voice"},
        ),
        ({CONF_MODEL: "  "}, {CONF_MODEL: "invalid_model"}),
    ],
)
async def test_invalid_combinations_are_form_errors(
    hass: HomeAssistant,
    setup_integration: MockConfigEntry,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Invalid combinations come back on step 1; nothing is stored."""
    entry = setup_integration
    before = dict(entry.options)
    result = await _step_one(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], submission(result, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert result["errors"] == errors
    assert dict(entry.options) == before


async def test_voice_outside_the_list_is_refused(
    hass: HomeAssistant, setup_integration: MockConfigEntry
) -> None:
    """The voice list is closed; a broken template is refused by the form."""
    result = await _step_one(hass, setup_integration)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], submission(result, voice="nobody")
        )
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], submission(result, prompt="{{ unclosed")
        )


async def test_options_stored_by_earlier_versions_open_and_save(
    hass: HomeAssistant, emulator: RealtimeEmulator, setup_integration: MockConfigEntry
) -> None:
    """Options an older version stored (flat, prices under their model, keys
    missing) prefill the form and save without losing anything."""
    entry = setup_integration
    legacy = {
        CONF_MODEL: "gpt-realtime",
        CONF_VOICE: "cedar",
        CONF_TURN_DETECTION: "server_vad",
        CONF_VAD_SILENCE_MS: 700,
        CONF_PRICES: {"gpt-realtime": MY_PRICES, "other-model": MY_PRICES},
    }
    hass.config_entries.async_update_entry(entry, options=legacy)
    await hass.async_block_till_done()
    tuning = await _to_tuning(hass, entry)
    sent = submission(tuning)
    assert sent["vad"][CONF_VAD_SILENCE_MS] == 700
    assert sent[PRICES] == MY_PRICES
    await hass.config_entries.options.async_configure(tuning["flow_id"], sent)
    await hass.async_block_till_done()
    assert entry.options[CONF_VOICE] == "cedar"
    assert entry.options[CONF_PRICES] == legacy[CONF_PRICES]
    assert set(DEFAULT_OPTIONS) <= set(entry.options)
