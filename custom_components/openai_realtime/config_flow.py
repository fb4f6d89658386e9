"""Config flow for OpenAI Realtime: endpoint + key, reauth, reconfigure, options."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
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
from .bridge.endpoint_config import async_check_endpoint
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
    DOMAIN,
    ENDPOINT_AZURE,
    ENDPOINT_CUSTOM,
    ENDPOINT_OPENAI,
    MODELS,
    OPENAI_BASE_URL,
    PRICE_FIELDS,
    TRANSCRIPTION_MODELS,
    TURN_DETECTION_KINDS,
    VAD_EAGERNESS,
    VOICES_GA,
    dialect_for_model,
    voices_for_dialect,
)
from .options import EntryOptions
from .realtime.errors import AuthenticationError, RealtimeError

if TYPE_CHECKING:
    from collections.abc import Mapping

_LOGGER = logging.getLogger(__name__)

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


def _title(data: Mapping[str, Any]) -> str:
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
                    title=_title(data), data=data, options=dict(DEFAULT_OPTIONS)
                )
        return self.async_show_form(
            step_id=kind,
            data_schema=_connection_schema(kind, user_input or {}),
            errors=errors,
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
                    entry, data=data, title=_title(data)
                )
        defaults = {k: v for k, v in entry.data.items() if k != CONF_API_KEY}
        schema = _connection_schema(kind, defaults)
        # Leaving the key empty keeps the stored one.
        schema = schema.extend({vol.Optional(CONF_API_KEY): _PASSWORD})
        return self.async_show_form(
            step_id="reconfigure", data_schema=schema, errors=errors
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Options: model, voice, prompt, tools, turn detection, prices."""
        return OpenAIRealtimeOptionsFlow()


def _price_key(field: str) -> str:
    return f"price_{field}"


def _select(
    options: list[str],
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


def _number(low: float, high: float, step: float) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(min=low, max=high, step=step, mode=NumberSelectorMode.BOX)
    )


class OpenAIRealtimeOptionsFlow(compat.OptionsFlowBase):
    """Behaviour of the assistant; invalid combinations become form errors."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """One form with every option."""
        current = {**DEFAULT_OPTIONS, **self.config_entry.options}
        errors: dict[str, str] = {}
        if user_input is not None:
            options, errors = self._parse(user_input, current)
            if not errors:
                return self.async_create_entry(data=options)
            current = {**current, **user_input}
        return self.async_show_form(
            step_id="init", data_schema=self._schema(current), errors=errors
        )

    def _schema(self, current: Mapping[str, Any]) -> Any:
        # Admin-only APIs (HA 2026.11's "Home Assistant") cannot serve spoken
        # turns, which have no user: they are not offered.
        apis = [
            SelectOptionDict(value=api.id, label=api.name)
            for api in llm.async_get_apis(self.hass)
            if not compat.api_requires_admin(api)
        ]
        model = str(current[CONF_MODEL])
        prices = {
            **DEFAULT_PRICES.get(model, {}),
            **current.get(CONF_PRICES, {}).get(model, {}),
        }
        schema: dict[Any, Any] = {
            vol.Required(CONF_MODEL, default=model): _select(MODELS, custom=True),
            vol.Required(CONF_VOICE, default=current[CONF_VOICE]): _select(
                VOICES_GA, custom=True
            ),
            vol.Optional(CONF_PROMPT, default=current[CONF_PROMPT]): TemplateSelector(),
            vol.Optional(
                CONF_LLM_HASS_API, default=list(current[CONF_LLM_HASS_API] or [])
            ): SelectSelector(SelectSelectorConfig(options=apis, multiple=True)),
            vol.Required(CONF_TEMPERATURE, default=current[CONF_TEMPERATURE]): _number(
                0.6, 1.2, 0.05
            ),
            vol.Required(
                CONF_MAX_OUTPUT_TOKENS, default=current[CONF_MAX_OUTPUT_TOKENS]
            ): _number(1, 4096, 1),
            vol.Required(
                CONF_TURN_DETECTION, default=current[CONF_TURN_DETECTION]
            ): _select(TURN_DETECTION_KINDS, translation_key=CONF_TURN_DETECTION),
            vol.Required(
                CONF_VAD_THRESHOLD, default=current[CONF_VAD_THRESHOLD]
            ): _number(0, 1, 0.05),
            vol.Required(
                CONF_VAD_PREFIX_PADDING_MS, default=current[CONF_VAD_PREFIX_PADDING_MS]
            ): _number(0, 2000, 10),
            vol.Required(
                CONF_VAD_SILENCE_MS, default=current[CONF_VAD_SILENCE_MS]
            ): _number(100, 5000, 10),
            vol.Required(
                CONF_VAD_EAGERNESS, default=current[CONF_VAD_EAGERNESS]
            ): _select(VAD_EAGERNESS),
            vol.Required(
                CONF_TRANSCRIPTION_MODEL, default=current[CONF_TRANSCRIPTION_MODEL]
            ): _select(TRANSCRIPTION_MODELS, custom=True),
            vol.Required(
                CONF_IDLE_TIMEOUT, default=current[CONF_IDLE_TIMEOUT]
            ): _number(10, 3600, 1),
            vol.Required(
                CONF_EAGER_RESPONSE, default=current[CONF_EAGER_RESPONSE]
            ): BooleanSelector(),
            vol.Required(
                CONF_BROWSER_ACCESS, default=current[CONF_BROWSER_ACCESS]
            ): _select(BROWSER_ACCESS, translation_key=CONF_BROWSER_ACCESS),
        }
        for field in PRICE_FIELDS:
            key = _price_key(field)
            default = current.get(key, prices.get(field, vol.UNDEFINED))
            schema[vol.Optional(key, default=default)] = _number(0, 1000, 0.001)
        return compat.form_schema(schema)

    def _parse(
        self, user_input: Mapping[str, Any], current: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate the combination; return the options to store and form errors."""
        errors: dict[str, str] = {}
        options = {k: v for k, v in user_input.items() if not k.startswith("price_")}
        model = str(options.get(CONF_MODEL, "")).strip()
        options[CONF_MODEL] = model
        if not model:
            errors[CONF_MODEL] = "invalid_model"
        elif options.get(CONF_VOICE) not in voices_for_dialect(
            dialect_for_model(model)
        ):
            errors[CONF_VOICE] = "invalid_voice"
        for key in (
            CONF_MAX_OUTPUT_TOKENS,
            CONF_IDLE_TIMEOUT,
            CONF_VAD_PREFIX_PADDING_MS,
            CONF_VAD_SILENCE_MS,
        ):
            options[key] = int(options[key])
        given = {
            field: float(user_input[_price_key(field)])
            for field in PRICE_FIELDS
            if user_input.get(_price_key(field)) is not None
        }
        prices = dict(current.get(CONF_PRICES) or {})
        if len(given) == len(PRICE_FIELDS):
            prices[model] = given
        elif given:
            errors["base"] = "incomplete_prices"
        options[CONF_PRICES] = prices
        options[CONF_LLM_HASS_API] = list(options.get(CONF_LLM_HASS_API) or [])
        return options, errors
