"""Seeds the `scripts/develop` instance: a login, a token, our entry, a pipeline.

Only ever copied into the gitignored development config; never shipped. Every step
is idempotent, so restarting the development instance changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.components.assist_pipeline.pipeline import (
    KEY_ASSIST_PIPELINE,
    async_create_default_pipeline,
    async_get_pipelines,
    async_update_pipeline,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.helpers import config_validation as cv, entity_registry as er
import voluptuous as vol

if TYPE_CHECKING:
    from homeassistant.core import Event, HomeAssistant
    from homeassistant.helpers.typing import ConfigType

_LOGGER = logging.getLogger(__name__)
DOMAIN = "dev_seed"
PIPELINE_NAME = "OpenAI Realtime"

CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                vol.Required("username"): cv.string,
                vol.Required("password"): cv.string,
                vol.Required("token_file"): cv.string,
                vol.Required("entry"): dict,
            }
        )
    },
    extra=vol.ALLOW_EXTRA,
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Seed once Home Assistant has started."""
    conf = config[DOMAIN]

    async def seed(_event: Event) -> None:
        await _async_seed_user(hass, conf)
        await _async_seed_entry(hass, conf["entry"])

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STARTED, seed)
    return True


async def _async_seed_user(hass: HomeAssistant, conf: dict[str, Any]) -> None:
    """An admin login and a long-lived token for the CLI satellite."""
    provider = next(p for p in hass.auth.auth_providers if p.type == "homeassistant")
    await provider.async_initialize()  # type: ignore[attr-defined]
    users = [u for u in await hass.auth.async_get_users() if not u.system_generated]
    if users:
        user = users[0]
    else:
        user = await hass.auth.async_create_user(
            "Developer", group_ids=[GROUP_ID_ADMIN]
        )
        await provider.async_add_auth(conf["username"], conf["password"])  # type: ignore[attr-defined]
        credentials = await provider.async_get_or_create_credentials(
            {"username": conf["username"]}
        )
        await hass.auth.async_link_user(user, credentials)
    token_file = Path(conf["token_file"])
    if await hass.async_add_executor_job(token_file.exists):
        return
    refresh = await hass.auth.async_create_refresh_token(
        user,
        client_name="CLI satellite (scripts/develop)",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=3650),
    )
    token = hass.auth.async_create_access_token(refresh)
    await hass.async_add_executor_job(token_file.write_text, token)


async def _async_seed_entry(hass: HomeAssistant, entry_data: dict[str, Any]) -> None:
    """Our config entry (through the real config flow) and the preferred pipeline."""
    if not hass.config_entries.async_entries("openai_realtime"):
        flow = await hass.config_entries.flow.async_init(
            "openai_realtime", context={"source": "user"}
        )
        kind = entry_data["endpoint_kind"]
        flow = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": kind}
        )
        fields = {k: v for k, v in entry_data.items() if k != "endpoint_kind"}
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], fields)
        if result.get("type") != "create_entry":
            _LOGGER.error("Could not create the OpenAI Realtime entry: %s", result)
            return
        await hass.async_block_till_done()
    ents = er.async_get(hass)
    entry = hass.config_entries.async_entries("openai_realtime")[0]
    ids = {
        e.domain: e.entity_id
        for e in er.async_entries_for_config_entry(ents, entry.entry_id)
    }
    pipeline = next(
        (p for p in async_get_pipelines(hass) if p.name == PIPELINE_NAME), None
    )
    if pipeline is None:
        pipeline = await async_create_default_pipeline(
            hass,
            stt_engine_id=ids["stt"],
            tts_engine_id=ids["tts"],
            pipeline_name=PIPELINE_NAME,
        )
        if pipeline is None:
            _LOGGER.error("Could not create the %s pipeline", PIPELINE_NAME)
            return
    await async_update_pipeline(
        hass,
        pipeline,
        conversation_engine=ids["conversation"],
        stt_engine=ids["stt"],
        tts_engine=ids["tts"],
        prefer_local_intents=False,
    )
    hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_set_preferred_item(pipeline.id)
    _LOGGER.info("Seeded: pipeline %s uses %s", PIPELINE_NAME, ids)
