"""The project's leak check (tests/conftest.py) fails tests that leave ours behind.

Each test runs a small inner test file in an inner pytest session (in this
process: Home Assistant is imported once) with this project's conftest as a
plugin, as the suite itself runs, and reads its verdicts.
"""

from __future__ import annotations

from fnmatch import fnmatch
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

INNER_CONFTEST = 'pytest_plugins = ["tests.conftest"]\n'
INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
HEADER = """
import asyncio
import functools

from homeassistant.components import conversation
from homeassistant.core import Context
from homeassistant.helpers.event import async_call_later
import pytest

from custom_components.openai_realtime.realtime import backoff
from custom_components.openai_realtime.realtime.errors import CannotConnectError


async def _refused():
    raise CannotConnectError("refused")
"""


def _run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner=HEADER + body)
    pythonpath = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    pytester._monkeypatch.setenv("PYTHONPATH", pythonpath)
    return pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:sugar", "-rA", "test_inner.py"
    )


def _has(result: pytest.RunResult, pattern: str) -> bool:
    return any(fnmatch(line, pattern) for line in result.outlines)


def test_leaked_task_and_timers_fail_their_tests(pytester: pytest.Pytester) -> None:
    """A sleeping task and timers of ours (plain, partial, bound method, an HA job)
    each fail their test, named in the message; the check runs after hass and the
    emulator are gone."""
    result = _run(
        pytester,
        """
async def test_task(hass):
    hass.loop.create_task(
        backoff.retry_connect(_refused, budget=1000, delays=iter([100.0]))
    )


async def test_timer():
    asyncio.get_running_loop().call_later(100, backoff.backoff_delays)


async def test_partial_timer():
    asyncio.get_running_loop().call_later(
        100, functools.partial(backoff.backoff_delays, 1.0)
    )


async def test_emulator_method_timer(emulator):
    asyncio.get_running_loop().call_later(100, emulator.brain.respond)


async def test_ha_job_timer(hass):
    async_call_later(hass, 100, backoff.backoff_delays)
""",
    )
    result.assert_outcomes(passed=5, errors=5)
    for test, what in [
        ("test_task", "  task *: retry_connect (backoff.py:*) -> sleep *"),
        ("test_timer", "  timer in 100.0 s: backoff_delays (backoff.py:*"),
        ("test_partial_timer", "  timer in 100.0 s: partial of backoff_delays *"),
        ("test_emulator_method_timer", "  timer in 100.0 s: *respond *"),
        ("test_ha_job_timer", "  timer in 100.0 s: job of backoff_delays *"),
    ]:
        assert _has(result, f"ERROR test_inner.py::{test} - Failed: Lingering*"), test
        assert _has(result, f"*ERROR at teardown of {test}*"), test
        assert _has(result, what), (test, what)
    assert _has(result, "Lingering tasks/timers of ours after the test:")


def test_no_leak_passes(pytester: pytest.Pytester) -> None:
    """A real typed turn through HA and the emulator, cleaned up by the fixtures,
    passes: the check does not blame what Home Assistant and aiohttp leave."""
    result = _run(
        pytester,
        """
@pytest.mark.usefixtures("setup_integration")
async def test_typed_turn(hass, emulator):
    result = await conversation.async_converse(
        hass, "hello", None, Context(), language="en",
        agent_id="conversation.realtime_emulator",
    )
    assert result.response.speech["plain"]["speech"]
    assert emulator.sessions
""",
    )
    result.assert_outcomes(passed=1)


def test_leak_xfail_marker_expects_the_leak_only(pytester: pytest.Pytester) -> None:
    """`xfail(strict=True, reason="leak: ...")`: XFAIL when the leak happens, a
    failure when it no longer does, and a failure when the test itself fails."""
    result = _run(
        pytester,
        """
@pytest.mark.xfail(strict=True, reason="leak: a timer, on purpose")
async def test_leaks():
    asyncio.get_running_loop().call_later(100, backoff.backoff_delays)


@pytest.mark.xfail(strict=True, reason="leak: fixed since")
async def test_leaks_no_more():
    pass


@pytest.mark.xfail(strict=True, reason="leak: a timer, and an assertion")
async def test_leaks_and_fails():
    asyncio.get_running_loop().call_later(100, backoff.backoff_delays)
    assert 1 == 2
""",
    )
    result.assert_outcomes(xfailed=1, failed=2)
    assert _has(result, "XFAIL test_inner.py::test_leaks - leak: a timer, on purpose")
    assert _has(result, "FAILED test_inner.py::test_leaks_no_more*")
    assert _has(result, "No task or timer of ours lingered: remove the xfail marker.")
    assert _has(result, "FAILED test_inner.py::test_leaks_and_fails*")
    assert _has(result, "*assert 1 == 2*")
