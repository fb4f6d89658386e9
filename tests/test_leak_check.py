"""The project's leak check (tests/conftest.py) fails tests that leave ours behind.

Small inner test files run in a fresh pytest process with this project's
conftest as a plugin, as the suite itself runs; the test reads their verdicts.
(Not in this process: pytester then drops the modules the inner run imported,
and integration modules imported again afterwards break `isinstance` in later
tests.)
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


INNER_FILES = {
    # A sleeping task of the integration's, left running.
    "test_task_leak": """
async def test_task(hass):
    hass.loop.create_task(
        backoff.retry_connect(_refused, budget=1000, delays=iter([100.0]))
    )
""",
    # Timers of ours: plain, functools.partial, a bound method, an HA job.
    "test_timer_leaks": """
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
    # A real typed turn through HA and the emulator, cleaned up by the fixtures.
    "test_clean": """
@pytest.mark.usefixtures("setup_integration")
async def test_typed_turn(hass, emulator):
    result = await conversation.async_converse(
        hass, "hello", None, Context(), language="en",
        agent_id="conversation.realtime_emulator",
    )
    assert result.response.speech["plain"]["speech"]
    assert emulator.sessions
""",
    # The marker for a known leak of the integration's.
    "test_leak_marker": """
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
}


@pytest.fixture
def inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.RunResult:
    """The inner files, run in one fresh pytest process (Home Assistant's import
    is what takes the time)."""
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makeini(INNER_INI)
    pytester.makepyfile(**{name: HEADER + body for name, body in INNER_FILES.items()})
    pythonpath = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    # pytest-cov < 7 measures subprocesses it finds its variables in: the inner run
    # would record statements only, which the outer run's branch data can't
    # combine with (an INTERNALERROR, exit 3).
    for name in [name for name in os.environ if name.startswith("COV_CORE_")]:
        monkeypatch.delenv(name)
    files = [f"{name}.py" for name in INNER_FILES]
    plugins = ["-p", "no:cacheprovider", "-p", "no:sugar"]
    return pytester.runpytest_subprocess(*plugins, "-rA", *files, timeout=300)


def _has(result: pytest.RunResult, pattern: str) -> bool:
    return any(fnmatch(line, pattern) for line in result.outlines)


def test_leak_check_verdicts(inner: pytest.RunResult) -> None:
    """A leaked task or timer of ours fails its test, named in the message; a test
    that leaks nothing passes; the leak marker expects exactly the leak."""
    inner.assert_outcomes(passed=6, errors=5, xfailed=1, failed=2)

    # The task and each kind of timer fail their test, after hass and the emulator
    # are gone (at teardown), saying what was left and where.
    assert _has(inner, "Lingering tasks/timers of ours after the test:")
    for test, what in [
        ("test_task_leak.py::test_task", "  task *: retry_connect (backoff.py:*) -> *"),
        ("test_timer_leaks.py::test_timer", "  timer in 100.0 s: backoff_delays (*"),
        (
            "test_timer_leaks.py::test_partial_timer",
            "  timer in 100.0 s: partial of backoff_delays *",
        ),
        (
            "test_timer_leaks.py::test_emulator_method_timer",
            "  timer in 100.0 s: *respond *",
        ),
        (
            "test_timer_leaks.py::test_ha_job_timer",
            "  timer in 100.0 s: job of backoff_delays *",
        ),
    ]:
        assert _has(inner, f"ERROR {test} - Failed: Lingering*"), test
        assert _has(inner, f"*ERROR at teardown of {test.split('::')[1]}*"), test
        assert _has(inner, what), (test, what)

    # A test that leaves nothing of ours passes: what HA and aiohttp leave is
    # not blamed on us.
    assert _has(inner, "PASSED test_clean.py::test_typed_turn")
    assert not _has(inner, "ERROR test_clean.py*")

    # xfail(strict=True, reason="leak: ..."): XFAIL when the leak happens; a
    # failure when it no longer does, or when the test itself fails.
    assert _has(inner, "XFAIL test_leak_marker.py::test_leaks - leak: a timer, *")
    assert _has(inner, "FAILED test_leak_marker.py::test_leaks_no_more*")
    assert _has(inner, "No task or timer of ours lingered: remove the xfail marker.")
    assert _has(inner, "FAILED test_leak_marker.py::test_leaks_and_fails*")
    assert _has(inner, "*assert 1 == 2*")
