"""Tasks and timers of ours still on the event loop: what the leak check looks for.

"Ours" is code of the integration (`custom_components.openai_realtime`) or of the
emulator (`realtime_emulator`): a task whose coroutine chain runs such code, or a
scheduled timer whose callback (or an argument it calls, like the job HA's
`async_call_later` schedules) is such code. Home Assistant's and aiohttp's own
tasks and timers are not ours; their leaks are for HA's harness to find.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import functools
import inspect
import os
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import custom_components.openai_realtime as integration
import realtime_emulator


class Owner(NamedTuple):
    """A package of ours: where its files are, and its module name."""

    directory: str
    module: str


def _owner(package: ModuleType) -> Owner:
    return Owner(
        str(Path(package.__file__ or "").resolve().parent) + os.sep, package.__name__
    )


INTEGRATION = (_owner(integration),)
EMULATOR = (_owner(realtime_emulator),)
OURS = INTEGRATION + EMULATOR


def _is_our_file(filename: str, owners: tuple[Owner, ...]) -> bool:
    real = os.path.realpath(filename)
    return any(real.startswith(owner.directory) for owner in owners)


def _is_our_module(name: object, owners: tuple[Owner, ...]) -> bool:
    return isinstance(name, str) and any(
        name == owner.module or name.startswith(owner.module + ".") for owner in owners
    )


def _coroutine_chain(coro: Any) -> Iterator[Any]:
    """A coroutine, then what it awaits, and so on (generators, async generators)."""
    seen = 0
    while coro is not None and seen < 100:
        seen += 1
        yield coro
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "gi_yieldfrom", None)
            or getattr(coro, "ag_await", None)
        )


def task_is_ours(task: asyncio.Task[Any], owners: tuple[Owner, ...] = OURS) -> bool:
    """Whether the task's coroutine, or any coroutine it awaits, is our code."""
    for coro in _coroutine_chain(task.get_coro()):
        code = (
            getattr(coro, "cr_code", None)
            or getattr(coro, "gi_code", None)
            or getattr(coro, "ag_code", None)
        )
        if code is not None and _is_our_file(code.co_filename, owners):
            return True
    return False


def _where(code: Any) -> str:
    return f"{code.co_qualname} ({os.path.basename(code.co_filename)}:{code.co_firstlineno})"


def our_callable(
    obj: object, owners: tuple[Owner, ...] = OURS, depth: int = 0
) -> str | None:
    """What of ours calling `obj` runs, or None: functions, lambdas, bound methods,
    functools.partial, HA jobs (anything with a `target`), callable instances."""
    if depth > 5 or obj is None:
        return None
    if isinstance(obj, functools.partial):
        for part in (obj.func, *obj.args):
            if found := our_callable(part, owners, depth + 1):
                return f"partial of {found}"
        return None
    if inspect.ismethod(obj):
        if found := our_callable(obj.__func__, owners, depth + 1):
            return found
        owner = type(obj.__self__)
        return (
            f"{owner.__qualname__}.{obj.__name__}"
            if _is_our_module(owner.__module__, owners)
            else None
        )
    code = getattr(obj, "__code__", None)
    if code is not None:
        return _where(code) if _is_our_file(code.co_filename, owners) else None
    if isinstance(obj, asyncio.Task):
        return f"task {obj.get_name()}" if task_is_ours(obj, owners) else None
    if (target := getattr(obj, "target", None)) is not None:  # HassJob
        found = our_callable(target, owners, depth + 1)
        return f"job of {found}" if found else None
    owner = getattr(obj, "__self__", None)  # a builtin bound method: fut.set_result
    if owner is not None and not inspect.ismodule(owner):
        if _is_our_module(type(owner).__module__, owners) or (
            isinstance(owner, asyncio.Task) and task_is_ours(owner, owners)
        ):
            return repr(obj)
        return None
    if callable(obj) and _is_our_module(type(obj).__module__, owners):
        return type(obj).__qualname__
    return None


def _timer_is_ours(
    handle: asyncio.TimerHandle, owners: tuple[Owner, ...] = OURS
) -> str | None:
    for part in (handle._callback, *(handle._args or ())):
        if found := our_callable(part, owners):
            return found
    return None


def our_tasks(
    loop: asyncio.AbstractEventLoop, owners: tuple[Owner, ...] = OURS
) -> list[asyncio.Task[Any]]:
    """Unfinished tasks of ours (the calling task excluded)."""
    current = asyncio.current_task(loop)
    return [
        task
        for task in asyncio.all_tasks(loop)
        if task is not current and not task.done() and task_is_ours(task, owners)
    ]


def our_timers(
    loop: asyncio.AbstractEventLoop, owners: tuple[Owner, ...] = OURS
) -> list[asyncio.TimerHandle]:
    """Scheduled, uncancelled timers whose callback (or its arguments) is ours."""
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    return [
        handle
        for handle in scheduled
        if not handle.cancelled() and _timer_is_ours(handle, owners)
    ]


def describe(
    tasks: list[asyncio.Task[Any]],
    timers: list[asyncio.TimerHandle],
    loop: asyncio.AbstractEventLoop,
) -> str:
    """One line per lingering task (where it is suspended) and timer (when it fires)."""
    lines = []
    for task in tasks:
        where = [
            f"{code.co_name} ({os.path.basename(code.co_filename)}:{frame.f_lineno})"
            for coro in _coroutine_chain(task.get_coro())
            if (
                code := getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
            )
            and (
                frame := getattr(coro, "cr_frame", None)
                or getattr(coro, "gi_frame", None)
            )
        ]
        shown = " -> ".join(where) if where else repr(task)
        lines.append(f"  task {task.get_name()}: {shown}")
    now = loop.time()
    lines.extend(
        f"  timer in {handle.when() - now:.1f} s: {_timer_is_ours(handle)}: {handle!r}"
        for handle in timers
    )
    return "\n".join(lines)


async def cancel(
    tasks: list[asyncio.Task[Any]], timers: list[asyncio.TimerHandle]
) -> None:
    """Cancel them, so that one test's leak does not spill into the next."""
    for handle in timers:
        handle.cancel()
    for task in tasks:
        task.cancel()
    if tasks:
        # Bounded only so that a task refusing to stop cannot hang the run.
        await asyncio.wait(tasks, timeout=5)
