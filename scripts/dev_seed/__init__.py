"""Seeds the `scripts/develop` instance: a login, our entry, a pipeline, a token.

Only ever linked into a development config (scripts/dev_config.py); never shipped.
Every step is idempotent, so restarting the development instance changes nothing.
The token file is written after the entry and pipeline exist, and the ready file
last: whoever waits for either can start talking to the assistant.

The seed owns one entry per endpoint kind (the emulator, OpenAI with --real) and
remembers their ids. A restart with another emulator port updates its entry in
place (its usage totals stay); the other kind's entry is disabled, not removed;
entries the user added are never touched.
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
from homeassistant.config_entries import ConfigEntryDisabler
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.helpers.storage import Store
import voluptuous as vol

from custom_components.openai_realtime.config_flow import title_after_update

if TYPE_CHECKING:
    from homeassistant.auth.models import User
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import Event, HomeAssistant
    from homeassistant.helpers.typing import ConfigType

_LOGGER = logging.getLogger(__name__)
DOMAIN = "dev_seed"
OUR_DOMAIN = "openai_realtime"
PIPELINE_NAME = "OpenAI Realtime"
STORE_VERSION = 1
DEFAULT_VOICE = "marin"  # EntryOptions' default, when an entry has no voice option

CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                vol.Required("username"): cv.string,
                vol.Required("password"): cv.string,
                vol.Required("token_file"): cv.string,
                vol.Required("ready_file"): cv.string,
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
        user = await _async_seed_user(hass, conf)
        if not await _async_seed_entry(hass, conf["entry"]):
            return
        await _async_seed_token(hass, user, Path(conf["token_file"]))
        await hass.async_add_executor_job(Path(conf["ready_file"]).touch)

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STARTED, seed)
    return True


async def _async_seed_user(hass: HomeAssistant, conf: dict[str, Any]) -> User:
    """An admin login."""
    provider = next(p for p in hass.auth.auth_providers if p.type == "homeassistant")
    await provider.async_initialize()
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
    return user


async def _async_seed_token(hass: HomeAssistant, user: User, token_file: Path) -> None:
    """A long-lived token for the CLI satellite (kept while HA still accepts it)."""
    if await hass.async_add_executor_job(token_file.exists):
        old = await hass.async_add_executor_job(token_file.read_text)
        if hass.auth.async_validate_access_token(old.strip()) is not None:
            return
    refresh = await hass.auth.async_create_refresh_token(
        user,
        client_name="CLI satellite (scripts/develop)",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=3650),
    )
    token = hass.auth.async_create_access_token(refresh)
    await hass.async_add_executor_job(_write_private, token_file, token)


def _write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


async def _async_seed_entry(hass: HomeAssistant, wanted: dict[str, Any]) -> bool:
    """Our config entry for the wanted endpoint and the preferred pipeline using it."""
    entry = await _async_entry(hass, wanted)
    if entry is None:
        return False
    ids = {
        e.domain: e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
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
            return False
    # The pipeline's TTS voice is what text read aloud uses and what it shows
    # (debug view, Wyoming's synthesize): the entry's voice, which answers use.
    voice = str(entry.options.get("voice") or DEFAULT_VOICE)
    await async_update_pipeline(
        hass,
        pipeline,
        conversation_engine=ids["conversation"],
        stt_engine=ids["stt"],
        tts_engine=ids["tts"],
        tts_voice=voice,
        prefer_local_intents=False,
    )
    hass.data[KEY_ASSIST_PIPELINE].pipeline_store.async_set_preferred_item(pipeline.id)
    used = {stage: ids[stage] for stage in ("stt", "conversation", "tts")}
    _LOGGER.info("Seeded: pipeline %s uses %s (voice %s)", PIPELINE_NAME, used, voice)
    return True


def _kind(data: dict[str, Any]) -> str:
    """Which of the seed's entries `data` is: "emulator" or "real"."""
    return "real" if data.get("endpoint_kind") == "openai" else "emulator"


async def _async_entry(
    hass: HomeAssistant, wanted: dict[str, Any]
) -> ConfigEntry | None:
    """The seed's entry for `wanted`, updated in place or created.

    The seed's entry of the other kind is disabled (an emulator that is not
    running would only make it retry); the user's own entries stay as they are.
    """
    store: Store[dict[str, str]] = Store(hass, STORE_VERSION, DOMAIN)
    seeded = await store.async_load() or _adopt(hass)
    kind = _kind(wanted)
    for other, entry_id in seeded.items():
        entry = hass.config_entries.async_get_entry(entry_id)
        if other != kind and entry is not None and entry.disabled_by is None:
            _LOGGER.info("Disabling the %s entry while %s runs", other, kind)
            await hass.config_entries.async_set_disabled_by(
                entry_id, ConfigEntryDisabler.USER
            )
    entry = hass.config_entries.async_get_entry(seeded.get(kind, ""))
    if entry is not None:
        await _async_update(hass, entry, wanted)
        return entry
    entry = await _async_create(hass, wanted)
    if entry is not None:
        seeded[kind] = entry.entry_id
        await store.async_save(seeded)
    return entry


def _adopt(hass: HomeAssistant) -> dict[str, str]:
    """Before the seed remembered its entries it kept exactly one: adopt it."""
    entries = hass.config_entries.async_entries(OUR_DOMAIN)
    if len(entries) != 1:
        return {}
    return {_kind(dict(entries[0].data)): entries[0].entry_id}


async def _async_update(
    hass: HomeAssistant, entry: ConfigEntry, wanted: dict[str, Any]
) -> None:
    """Point the seed's entry at `wanted` (another port, another key) in place."""
    changed = any(entry.data.get(key) != value for key, value in wanted.items())
    if changed:
        _LOGGER.info(
            "Moving the seeded entry from %s to %s",
            entry.data.get("base_url"),
            wanted.get("base_url"),
        )
        data = {**entry.data, **wanted}
        hass.config_entries.async_update_entry(
            entry, data=data, title=title_after_update(hass, entry, data)
        )
    if entry.disabled_by is not None:
        # Enabling sets it up with the new data.
        await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    elif changed:
        await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


async def _async_create(
    hass: HomeAssistant, wanted: dict[str, Any]
) -> ConfigEntry | None:
    """A new entry, through the real config flow as a user would (it checks the
    endpoint too)."""
    flow = await hass.config_entries.flow.async_init(
        OUR_DOMAIN, context={"source": "user"}
    )
    kind = wanted["endpoint_kind"]
    flow = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": kind}
    )
    fields = {k: v for k, v in wanted.items() if k != "endpoint_kind"}
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], fields)
    if result.get("type") != "create_entry":
        _LOGGER.error("Could not create the OpenAI Realtime entry: %s", result)
        return None
    await hass.async_block_till_done()
    return hass.config_entries.async_get_entry(result["result"].entry_id)
