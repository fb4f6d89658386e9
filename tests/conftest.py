"""Shared fixtures: the local Realtime API emulator on a loopback port, and entries.

Also the project's leak check: every test fails if a task or timer of the
integration or the emulator outlives it (the harness's own check reads another
event loop than the test's under pytest-asyncio 1.x, so it never sees them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from _pytest.runner import runtestprotocol
import aiohttp
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

from . import leaks

if TYPE_CHECKING:
    from realtime_emulator import RealtimeEmulator

pytest_plugins = ["pytester"]  # tests/test_leak_check.py runs tests of the check

API_KEY = "sk-test-emulator-key"
LEAK_PREFIX = "leak:"
_LEAKED = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Allow sockets: the harness still restricts connections to 127.0.0.1."""


@pytest.fixture(autouse=True)
async def no_lingering_tasks_or_timers(
    request: pytest.FixtureRequest, loopback_sockets: None
) -> AsyncIterator[None]:
    """Fail the test if a task or timer of ours outlives it.

    Autouse, async and independent of `hass`: the first fixture of the test's own
    event loop to be set up, so the last torn down, after hass, the emulator and
    every other fixture. What it finds is reported, then cancelled, so one test's
    leak does not fail the next. (It needs sockets allowed before the test's event
    loop is created: the loop's self-pipe is a socket pair.)
    """
    yield
    loop = asyncio.get_running_loop()
    tasks, timers = leaks.our_tasks(loop), leaks.our_timers(loop)
    if not tasks and not timers:
        return
    found = leaks.describe(tasks, timers, loop)
    await leaks.cancel(tasks, timers)
    request.node.stash[_LEAKED] = found
    if _leak_xfail_reason(request.node) is None:
        pytest.fail(
            f"Lingering tasks/timers of ours after the test:\n{found}", pytrace=False
        )


def _leak_xfail_reason(item: pytest.Item) -> str | None:
    """The reason of an `xfail(strict=True, reason="leak: ...")` marker, if any."""
    for mark in item.iter_markers("xfail"):
        reason = str(mark.kwargs.get("reason", ""))
        if reason.startswith(LEAK_PREFIX):
            return reason
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> bool | None:
    """Tests marked `xfail(strict=True, reason="leak: ...")` expect a leak only.

    A leak is found after teardown, when pytest has judged the test's call phase
    already; so such a test runs here and its reports are judged before they are
    logged: it is XFAIL when the check found a leak; it fails when it did not
    (strict: the leak is fixed, remove the marker), and whenever the test itself
    fails (the marker excuses the leak, not a failing assertion).
    """
    reason = _leak_xfail_reason(item)
    if reason is None:
        return None  # pytest's own protocol runs the test
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    leaked = item.stash.get(_LEAKED, None)
    for report in reports:
        xpassed = report.when == "call" and (
            report.passed
            or (report.failed and str(report.longrepr).startswith("[XPASS(strict)]"))
        )
        if xpassed and leaked:
            report.outcome = "skipped"
            report.wasxfail = reason
            report.longrepr = f"Lingering tasks/timers of ours:\n{leaked}"
        elif xpassed:
            report.outcome = "failed"
            report.longrepr = (
                f"[XPASS(strict)] {reason}\n"
                "No task or timer of ours lingered: remove the xfail marker."
            )
        elif hasattr(report, "wasxfail"):
            # pytest made a real failure XFAIL: the marker excuses only the leak.
            report.outcome = "failed"
            del report.wasxfail
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session, as HA would supply (library tests)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def emu() -> AsyncIterator[RealtimeEmulator]:
    """An emulator accepting API_KEY only, for the library's and its own tests.

    Every server event it sent must also validate against the official SDK's
    models (tests/conformance/sdk.py): whatever a test provokes, knobs included,
    stays on the real wire shape.
    """
    from realtime_emulator import EmulatorOptions, RealtimeEmulator

    from .conformance.sdk import server_problems

    emulator = RealtimeEmulator(EmulatorOptions(api_keys={API_KEY}))
    await emulator.start()
    yield emulator
    await emulator.stop()
    problems = [
        problem
        for connection in emulator.sessions
        for problem in server_problems(connection.dialect, connection.sent)
    ]
    assert not problems, "\n".join(problems[:20])


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
