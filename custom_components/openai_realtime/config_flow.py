"""Config flow for OpenAI Realtime: endpoint + key, reauth, reconfigure, options."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers import llm
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TemplateSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from . import compat
from .bridge.endpoint_config import async_check_endpoint, build_endpoint
from .const import (
    BROWSER_ACCESS,
    CONF_API_KEY,
    CONF_AZURE_API_VERSION,
    CONF_AZURE_DEPLOYMENT,
    CONF_AZURE_RESOURCE,
    CONF_BASE_URL,
    CONF_BROWSER_ACCESS,
    CONF_EAGER_RESPONSE,
    CONF_ENDPOINT_KIND,
    CONF_IDLE_TIMEOUT,
    CONF_LLM_HASS_API,
    CONF_MAX_OUTPUT_TOKENS,
    CONF_MODEL,
    CONF_PRICES,
    CONF_PROMPT,
    CONF_TEMPERATURE,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VAD_EAGERNESS,
    CONF_VAD_PREFIX_PADDING_MS,
    CONF_VAD_SILENCE_MS,
    CONF_VAD_THRESHOLD,
    CONF_VOICE,
    DEFAULT_AZURE_API_VERSION,
    DEFAULT_MODEL,
    DEFAULT_PRICES,
    DIALECT_BETA,
    DOMAIN,
    ENDPOINT_AZURE,
    ENDPOINT_CUSTOM,
    ENDPOINT_OPENAI,
    MODELS,
    MODELS_GA,
    MODELS_RETIRED,
    OPENAI_BASE_URL,
    PRICE_FIELDS,
    TRANSCRIPTION_MODELS,
    TURN_DETECTION_KINDS,
    TURN_DETECTION_SEMANTIC_VAD,
    TURN_DETECTION_SERVER_VAD,
    VAD_EAGERNESS,
    VOICES_GA,
    dialect_for_model,
    voices_for_dialect,
)
from .options import EntryOptions, entered_prices
from .realtime.errors import AuthenticationError, RealtimeError

if TYPE_CHECKING:
    from .entry import OpenAIRealtimeConfigEntry

_LOGGER = logging.getLogger(__name__)

# Addresses reach the forms as placeholders: hassfest refuses URLs in strings.json.
_PLACEHOLDERS = {"azure_resource_example": "https://my-resource.openai.azure.com"}

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


def _connection_schema(kind: str, defaults: Mapping[str, Any]) -> Any:
    """Form fields for one endpoint kind, prefilled from `defaults` (no secrets)."""
    key_marker = vol.Optional if kind == ENDPOINT_CUSTOM else vol.Required
    fields: dict[Any, Any] = {}
    if kind == ENDPOINT_AZURE:
        fields[
            vol.Required(
                CONF_AZURE_RESOURCE,
                default=defaults.get(CONF_AZURE_RESOURCE, vol.UNDEFINED),
            )
        ] = _URL
        fields[
            vol.Required(
                CONF_AZURE_DEPLOYMENT,
                default=defaults.get(CONF_AZURE_DEPLOYMENT, vol.UNDEFINED),
            )
        ] = str
        fields[
            vol.Optional(
                CONF_AZURE_API_VERSION,
                default=defaults.get(CONF_AZURE_API_VERSION, DEFAULT_AZURE_API_VERSION),
            )
        ] = str
    elif kind == ENDPOINT_CUSTOM:
        fields[
            vol.Required(
                CONF_BASE_URL, default=defaults.get(CONF_BASE_URL, vol.UNDEFINED)
            )
        ] = _URL
    fields[key_marker(CONF_API_KEY)] = _PASSWORD
    return compat.form_schema(fields)


def _normalise(kind: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data for the submitted form, with URLs trimmed."""
    data: dict[str, Any] = {CONF_ENDPOINT_KIND: kind, **user_input}
    data[CONF_API_KEY] = str(user_input.get(CONF_API_KEY) or "").strip()
    if kind == ENDPOINT_OPENAI:
        data[CONF_BASE_URL] = OPENAI_BASE_URL
    for key in (CONF_BASE_URL, CONF_AZURE_RESOURCE):
        if key in data:
            data[key] = str(data[key]).strip().rstrip("/")
    return data


def endpoint_title(data: Mapping[str, Any]) -> str:
    kind = data[CONF_ENDPOINT_KIND]
    if kind == ENDPOINT_OPENAI:
        return "OpenAI Realtime"
    if kind == ENDPOINT_AZURE:
        return f"Azure OpenAI Realtime ({data[CONF_AZURE_DEPLOYMENT]})"
    # Host and path only: a URL may carry credentials (user:pass@), titles are public.
    url = urlsplit(str(data[CONF_BASE_URL]))
    return (
        f"Realtime ({url.hostname or ''}{f':{url.port}' if url.port else ''}{url.path})"
    )


def _unique_title(
    hass: HomeAssistant, data: Mapping[str, Any], entry_id: str | None = None
) -> str:
    """The endpoint's title, numbered when another entry has it already.

    Two entries on one endpoint (two keys, two projects) would otherwise share a
    title and a device name. The user can rename either.
    """
    base = endpoint_title(data)
    taken = {
        entry.title
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.entry_id != entry_id
    }
    title, number = base, 1
    while title in taken:
        number += 1
        title = f"{base} {number}"
    return title


def _is_our_title(title: str, data: Mapping[str, Any]) -> bool:
    """Whether `title` is one `_unique_title` gave for `data` (not the user's)."""
    base = endpoint_title(data)
    rest = title.removeprefix(base)
    return title.startswith(base) and (not rest or rest.strip().isdigit())


def title_after_update(
    hass: HomeAssistant, entry: OpenAIRealtimeConfigEntry, data: Mapping[str, Any]
) -> str:
    """The entry's title once its endpoint becomes `data`: ours follows the
    endpoint, a title the user chose stays."""
    if _is_our_title(entry.title, entry.data):
        return _unique_title(hass, data, entry.entry_id)
    return entry.title


def _check_model(data: Mapping[str, Any]) -> str:
    """The model to validate credentials with (Azure: the deployment decides)."""
    return str(data.get(CONF_AZURE_DEPLOYMENT) or DEFAULT_MODEL)


async def _validate(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """Check the credentials by opening a session; return form errors."""
    try:
        await async_check_endpoint(
            async_get_clientsession(hass), data, _check_model(data)
        )
    except AuthenticationError:
        return {"base": "invalid_auth"}
    except ValueError:
        return {"base": "invalid_url"}
    except RealtimeError as err:
        _LOGGER.info("Cannot connect to the realtime endpoint: %s", err)
        return {"base": "cannot_connect"}
    except Exception:
        _LOGGER.exception("Unexpected error while checking the realtime endpoint")
        return {"base": "unknown"}
    return {}


def _match_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two entries the same endpoint + key."""
    keys: tuple[str, ...] = (CONF_ENDPOINT_KIND, CONF_API_KEY, CONF_BASE_URL)
    if data[CONF_ENDPOINT_KIND] == ENDPOINT_AZURE:
        keys = (
            CONF_ENDPOINT_KIND,
            CONF_API_KEY,
            CONF_AZURE_RESOURCE,
            CONF_AZURE_DEPLOYMENT,
        )
    return {key: data.get(key) for key in keys}


# What a new entry starts with: the defaults of EntryOptions, in stored form.
DEFAULT_OPTIONS: dict[str, Any] = EntryOptions().as_mapping()


class OpenAIRealtimeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up an endpoint: OpenAI, Azure OpenAI or a compatible server."""

    VERSION = 1

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the kind of endpoint."""
        return self.async_show_menu(
            step_id="user",
            menu_options=[ENDPOINT_OPENAI, ENDPOINT_AZURE, ENDPOINT_CUSTOM],
        )

    async def async_step_openai(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """OpenAI: just the API key."""
        return await self._async_connection_step(ENDPOINT_OPENAI, user_input)

    async def async_step_azure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Azure OpenAI: resource URL, deployment, optional api-version, key."""
        return await self._async_connection_step(ENDPOINT_AZURE, user_input)

    async def async_step_custom(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Any compatible server (or the local emulator): base URL and key."""
        return await self._async_connection_step(ENDPOINT_CUSTOM, user_input)

    async def _async_connection_step(
        self, kind: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _normalise(kind, user_input)
            self._async_abort_entries_match(_match_keys(data))
            if not (errors := await _validate(self.hass, data)):
                return self.async_create_entry(
                    title=_unique_title(self.hass, data),
                    data=data,
                    options=dict(DEFAULT_OPTIONS),
                )
        return self.async_show_form(
            step_id=kind,
            data_schema=_connection_schema(kind, user_input or {}),
            errors=errors,
            description_placeholders=_PLACEHOLDERS,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """The key was rejected (401): ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new API key and check it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_API_KEY: str(user_input[CONF_API_KEY]).strip()}
            if not (errors := await _validate(self.hass, data)):
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=compat.form_schema({vol.Required(CONF_API_KEY): _PASSWORD}),
            description_placeholders={"title": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the endpoint or key of an entry in place."""
        entry = self._get_reconfigure_entry()
        kind = str(entry.data[CONF_ENDPOINT_KIND])
        errors: dict[str, str] = {}
        if user_input is not None:
            submitted = dict(user_input)
            if not submitted.get(CONF_API_KEY):
                submitted[CONF_API_KEY] = entry.data.get(CONF_API_KEY, "")
            data = _normalise(kind, submitted)
            if not (errors := await _validate(self.hass, data)):
                return self.async_update_reload_and_abort(
                    entry, data=data, title=title_after_update(self.hass, entry, data)
                )
        defaults = {k: v for k, v in entry.data.items() if k != CONF_API_KEY}
        schema = _connection_schema(kind, defaults)
        # Leaving the key empty keeps the stored one.
        schema = schema.extend({vol.Optional(CONF_API_KEY): _PASSWORD})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders=_PLACEHOLDERS,
        )

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: OpenAIRealtimeConfigEntry,
    ) -> OptionsFlow:
        """Options: model, voice, prompt, tools, turn detection, prices."""
        return OpenAIRealtimeOptionsFlow()


# --- options ----------------------------------------------------------------------
# Step 1 (init) holds what every entry uses; step 2 (tuning) only what applies to
# the model and turn detection chosen in step 1: temperature for beta-protocol
# models, the chosen VAD's settings, and the chosen model's prices. HA forms cannot
# show or hide a field from another field's value within one step.
SECTION_VAD = "vad"
SECTION_PRICES = "model_prices"
RETIRED_LABEL = "{model} (retired)"


def _select(
    options: list[str] | list[SelectOptionDict],
    *,
    custom: bool = False,
    multiple: bool = False,
    translation_key: str | None = None,
) -> SelectSelector:
    config = SelectSelectorConfig(
        options=options,
        custom_value=custom,
        multiple=multiple,
        mode=SelectSelectorMode.DROPDOWN,
    )
    if translation_key:
        config["translation_key"] = translation_key
    return SelectSelector(config)


def _number(
    low: float, high: float, step: float, unit: str | None = None
) -> NumberSelector:
    config = NumberSelectorConfig(
        min=low, max=high, step=step, mode=NumberSelectorMode.BOX
    )
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def model_choices(current: str) -> list[SelectOptionDict]:
    """The model list: GA models first, the retired previews last and marked.

    A custom model id (any server may serve others) stays selectable.
    """
    choices = [SelectOptionDict(value=model, label=model) for model in MODELS_GA]
    if current and current not in MODELS:
        choices.append(SelectOptionDict(value=current, label=current))
    choices += [
        SelectOptionDict(value=model, label=RETIRED_LABEL.format(model=model))
        for model in MODELS_RETIRED
    ]
    return choices


def shown_prices(options: Mapping[str, Any], model: str) -> dict[str, float]:
    """The prices the form shows for `model`: the user's, else the list prices."""
    entered = entered_prices(options.get(CONF_PRICES) or {}).get(model)
    if isinstance(entered, Mapping) and all(f in entered for f in PRICE_FIELDS):
        return {f: float(entered[f]) for f in PRICE_FIELDS}
    return dict(DEFAULT_PRICES.get(model, {}))


class OpenAIRealtimeOptionsFlow(compat.OptionsFlowBase):
    """Behaviour of the assistant; invalid combinations become form errors."""

    def __init__(self) -> None:
        """Nothing chosen yet."""
        self._chosen: dict[str, Any] = {}

    @property
    def _current(self) -> dict[str, Any]:
        """The stored options over the defaults, with this flow's choices so far."""
        return {**DEFAULT_OPTIONS, **self.config_entry.options, **self._chosen}

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The assistant: model, voice, instructions, tools, turn detection."""
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen, errors = _parse_assistant(user_input)
            if not errors:
                self._chosen = chosen
                return await self.async_step_tuning()
        current = self._current
        shown = {**current, **(user_input or {})}
        schema = self.add_suggested_values_to_schema(
            self._assistant_schema(shown),
            {
                CONF_PROMPT: shown.get(CONF_PROMPT, ""),
                CONF_LLM_HASS_API: list(shown.get(CONF_LLM_HASS_API) or []),
            },
        )
        return self.async_show_form(
            step_id="init", data_schema=schema, errors=errors, last_step=False
        )

    async def async_step_tuning(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What applies to the chosen model and turn detection, and its prices."""
        current = self._current
        model = str(current[CONF_MODEL])
        errors: dict[str, str] = {}
        if user_input is not None:
            tuned, errors = _parse_tuning(user_input, current, model)
            if not errors:
                return self.async_create_entry(data={**current, **tuned})
        prices = (user_input or {}).get(SECTION_PRICES, shown_prices(current, model))
        suggested: dict[str, Any] = {SECTION_PRICES: prices}
        schema = self.add_suggested_values_to_schema(
            self._tuning_schema({**current, **(user_input or {})}), suggested
        )
        return self.async_show_form(
            step_id="tuning",
            data_schema=schema,
            errors=errors,
            description_placeholders={"model": model},
            last_step=True,
        )

    def _assistant_schema(self, current: Mapping[str, Any]) -> Any:
        # Admin-only APIs (HA 2026.11's "Home Assistant") cannot serve spoken
        # turns, which have no user: they are not offered.
        apis = [
            SelectOptionDict(value=api.id, label=api.name)
            for api in llm.async_get_apis(self.hass)
            if not compat.api_requires_admin(api)
        ]
        model = str(current[CONF_MODEL])
        return compat.form_schema(
            {
                vol.Required(CONF_MODEL, default=model): _select(
                    model_choices(model), custom=True
                ),
                vol.Required(CONF_VOICE, default=current[CONF_VOICE]): _select(
                    VOICES_GA
                ),
                vol.Optional(CONF_PROMPT): TemplateSelector(),
                vol.Optional(CONF_LLM_HASS_API): SelectSelector(
                    SelectSelectorConfig(options=apis, multiple=True)
                ),
                vol.Required(
                    CONF_TURN_DETECTION, default=current[CONF_TURN_DETECTION]
                ): _select(TURN_DETECTION_KINDS, translation_key=CONF_TURN_DETECTION),
                vol.Required(
                    CONF_EAGER_RESPONSE, default=current[CONF_EAGER_RESPONSE]
                ): BooleanSelector(),
                vol.Required(
                    CONF_TRANSCRIPTION_MODEL, default=current[CONF_TRANSCRIPTION_MODEL]
                ): _select(TRANSCRIPTION_MODELS, custom=True),
                vol.Required(
                    CONF_MAX_OUTPUT_TOKENS, default=current[CONF_MAX_OUTPUT_TOKENS]
                ): _number(1, 4096, 1, "tokens"),
                vol.Required(
                    CONF_IDLE_TIMEOUT, default=current[CONF_IDLE_TIMEOUT]
                ): _number(10, 3600, 1, "s"),
                vol.Required(
                    CONF_BROWSER_ACCESS, default=current[CONF_BROWSER_ACCESS]
                ): _select(BROWSER_ACCESS, translation_key=CONF_BROWSER_ACCESS),
            }
        )

    def _tuning_schema(self, current: Mapping[str, Any]) -> Any:
        model = str(current[CONF_MODEL])
        fields: dict[Any, Any] = {}
        if _dialect(self.config_entry.data, model) == DIALECT_BETA:
            fields[
                vol.Required(CONF_TEMPERATURE, default=current[CONF_TEMPERATURE])
            ] = _number(0.6, 1.2, 0.05)
        vad = _vad_fields(str(current[CONF_TURN_DETECTION]), current)
        if vad:
            fields[vol.Required(SECTION_VAD)] = section(compat.form_schema(vad))
        fields[vol.Required(SECTION_PRICES)] = section(
            compat.form_schema(
                {
                    # The labels carry the unit (USD per 1M tokens).
                    vol.Optional(name): _number(0, 1000, 0.001)
                    for name in PRICE_FIELDS
                }
            ),
            {"collapsed": True},
        )
        return compat.form_schema(fields)


def _dialect(data: Mapping[str, Any], model: str) -> str:
    """The protocol the entry's endpoint speaks with `model`."""
    try:
        return build_endpoint(data, model).dialect
    except (KeyError, ValueError):
        return dialect_for_model(model)


def _vad_fields(kind: str, current: Mapping[str, Any]) -> dict[Any, Any]:
    """The settings of the chosen turn detection (none when it is off)."""
    if kind == TURN_DETECTION_SERVER_VAD:
        return {
            vol.Required(
                CONF_VAD_THRESHOLD, default=current[CONF_VAD_THRESHOLD]
            ): _number(0, 1, 0.05),
            vol.Required(
                CONF_VAD_PREFIX_PADDING_MS, default=current[CONF_VAD_PREFIX_PADDING_MS]
            ): _number(0, 2000, 10, "ms"),
            vol.Required(
                CONF_VAD_SILENCE_MS, default=current[CONF_VAD_SILENCE_MS]
            ): _number(100, 5000, 10, "ms"),
        }
    if kind == TURN_DETECTION_SEMANTIC_VAD:
        return {
            vol.Required(
                CONF_VAD_EAGERNESS, default=current[CONF_VAD_EAGERNESS]
            ): _select(VAD_EAGERNESS, translation_key=CONF_VAD_EAGERNESS),
        }
    return {}


def _parse_assistant(
    user_input: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Step 1's choices in stored form, and form errors."""
    errors: dict[str, str] = {}
    chosen = dict(user_input)
    model = str(chosen.get(CONF_MODEL, "")).strip()
    chosen[CONF_MODEL] = model
    if not model:
        errors[CONF_MODEL] = "invalid_model"
    elif chosen.get(CONF_VOICE) not in voices_for_dialect(dialect_for_model(model)):
        errors[CONF_VOICE] = "invalid_voice"
    # Cleared in the form: absent from the input. An empty prompt means HA's own.
    chosen[CONF_PROMPT] = str(chosen.get(CONF_PROMPT) or "")
    chosen[CONF_LLM_HASS_API] = list(chosen.get(CONF_LLM_HASS_API) or [])
    for key in (CONF_MAX_OUTPUT_TOKENS, CONF_IDLE_TIMEOUT):
        chosen[key] = int(chosen[key])
    return chosen, errors


def _parse_tuning(
    user_input: Mapping[str, Any], current: Mapping[str, Any], model: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Step 2's values in stored form (the prices for `model`), and form errors.

    Prices equal to the list prices are not stored, so a later price update in
    this integration reaches the entry; none at all means the list prices (or an
    unknown cost for a model without them).
    """
    errors: dict[str, str] = {}
    tuned: dict[str, Any] = {}
    if CONF_TEMPERATURE in user_input:
        tuned[CONF_TEMPERATURE] = float(user_input[CONF_TEMPERATURE])
    tuned.update(user_input.get(SECTION_VAD) or {})
    for key in (CONF_VAD_PREFIX_PADDING_MS, CONF_VAD_SILENCE_MS):
        if key in tuned:
            tuned[key] = int(tuned[key])
    entered = user_input.get(SECTION_PRICES) or {}
    given = {
        name: float(entered[name])
        for name in PRICE_FIELDS
        if entered.get(name) is not None
    }
    stored = entered_prices(current.get(CONF_PRICES) or {})
    prices = {m: dict(p) for m, p in stored.items()}
    if len(given) == len(PRICE_FIELDS) and given != DEFAULT_PRICES.get(model):
        prices[model] = given
    elif len(given) in (0, len(PRICE_FIELDS)):
        prices.pop(model, None)
    else:
        errors["base"] = "incomplete_prices"
    tuned[CONF_PRICES] = prices
    return tuned, errors
