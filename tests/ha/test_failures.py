"""When the world misbehaves: every failure is answered in time, in plain words."""

from __future__ import annotations

import time

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.const import DOMAIN
from realtime_emulator import RealtimeEmulator

from .conftest import AGENT

# A satellite waits about this long for an answer (Voice PE: an HTTP request 5 s).
SATELLITE_PATIENCE = 5.0


async def _say(hass: HomeAssistant, text: str) -> tuple[str, float, bool]:
    """The spoken words of a typed turn, how long it took, and if it was an error."""
    started = time.monotonic()
    result = await conversation.async_converse(
        hass, text, None, Context(), language="en", agent_id=AGENT
    )
    speech = str(result.response.speech["plain"]["speech"])
    failed = result.response.response_type is intent.IntentResponseType.ERROR
    return speech, time.monotonic() - started, failed


@pytest.mark.usefixtures("setup_integration")
@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("rate_limit_exceeded", "OpenAI is rate limiting requests. Try again shortly."),
        (
            "insufficient_quota",
            "The OpenAI account is out of credit. Check its billing.",
        ),
        ("server_error", "The model had a problem answering. Please try again."),
    ],
)
async def test_failed_responses_are_told_in_our_words(
    hass: HomeAssistant, emulator: RealtimeEmulator, code: str, words: str
) -> None:
    """A failed response.done carries the server's text (ids, org names): the user
    hears our words instead."""
    emulator.options.fail_responses = code
    speech, _took, failed = await _say(hass, "hello")
    assert failed
    assert speech == words


@pytest.mark.usefixtures("setup_integration")
async def test_a_failed_response_does_not_block_the_next_turn(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """After a failure on a kept session, the next turn is answered normally."""
    emulator.options.fail_responses = "server_error"
    await _say(hass, "hello")
    emulator.options.fail_responses = None
    speech, _took, failed = await _say(hass, "hello")
    assert not failed
    assert speech == "Hello! How can I help with your home?"


@pytest.mark.usefixtures("setup_integration")
async def test_unreachable_endpoint_is_named_in_time(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """The endpoint went away: the user hears which one, well within a satellite's
    patience (not after 10 s of retries)."""
    await emulator.stop()
    speech, took, failed = await _say(hass, "hello")
    assert failed
    assert speech == (
        f"I can't reach 127.0.0.1:{emulator.port}. "
        "Check the network or the integration's endpoint."
    )
    assert took < SATELLITE_PATIENCE


@pytest.mark.usefixtures("setup_integration")
async def test_endpoint_errors_are_named_in_time(
    hass: HomeAssistant, emulator: RealtimeEmulator
) -> None:
    """A 5xx at the handshake, and a handshake with no session.created."""
    host = f"127.0.0.1:{emulator.port}"
    emulator.options.handshake_status = 503
    speech, took, _failed = await _say(hass, "hello")
    assert speech == f"{host} has a problem right now (HTTP 503). Try again shortly."
    assert took < SATELLITE_PATIENCE

    emulator.options.handshake_status = None
    emulator.options.silent_after_handshake = True
    speech, took, _failed = await _say(hass, "hello")
    assert speech == f"{host} answered but did not start a session."
    assert took < SATELLITE_PATIENCE


async def test_rejected_key_in_a_turn_asks_for_a_new_one(
    hass: HomeAssistant,
    emulator: RealtimeEmulator,
    setup_integration: MockConfigEntry,
) -> None:
    """A key revoked after setup: the user is told, and HA's re-auth flow starts."""
    emulator.options.api_keys = {"sk-another-key"}
    speech, _took, failed = await _say(hass, "hello")
    assert failed
    assert speech == (
        f"127.0.0.1:{emulator.port} rejected the API key. "
        "Please re-enter it in the integration."
    )
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
