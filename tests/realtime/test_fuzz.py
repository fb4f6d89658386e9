"""Seeded fuzz: mutated server scripts through the real connection and session.

Every case opens a real websocket to a loopback server that plays a realistic
script (script_server.py) for each client request, mutated by the case's seed:
events dropped, duplicated, reordered, fields mistyped or removed, JSON cut
short, errors and unknown events injected, the connection closed mid-way. The
client runs a typical voice turn (configure, append audio, commit, ask for the
answer, iterate it, wait for the transcript, return a function result, ask again).

Whatever happens, the client may only see the library's documented failures
(`RealtimeError` subclasses; `TimeoutError` from the request deadlines that
document it), the reader never fails, no future or task exception goes unseen,
nothing hangs, and after `close()` nothing is left waiting in the session.
Run one case with `FUZZ_SEED=<seed> FUZZ_DIALECT=<ga|beta>`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field
import gc
import json
import logging
import os
import random
import time
import traceback
from typing import Any

import aiohttp
import pytest

import custom_components.openai_realtime  # noqa: F401
from custom_components.openai_realtime.realtime import events as ev
from custom_components.openai_realtime.realtime.endpoint import Dialect
from custom_components.openai_realtime.realtime.errors import RealtimeError
from custom_components.openai_realtime.realtime.session import (
    RealtimeSession,
    ResponseStream,
)

from .script_server import (
    CALL_NAME,
    FOLLOW_UP,
    TRANSCRIPT,
    Abort,
    Close,
    Frame,
    Json,
    Raw,
    Script,
    ScriptServer,
)

CASES = 2000  # half GA, half beta
CONCURRENCY = 48
BASE_SEED = 20_240_611
STEP = 1.0  # the library's deadlines in these cases (requests, response idle)
# The unmutated cases must complete: on a loaded machine (CI shares its cores) a
# 1 s deadline can pass without any fault, so theirs are longer.
CONTROL_STEP = 10.0
CASE_DEADLINE = 15.0  # a case still running after this has hung
CONFIG = ev.SessionConfig(
    instructions="Be brief.",
    voice="alloy",
    transcription_model="gpt-4o-mini-transcribe",
    tools=(
        ev.FunctionTool(
            CALL_NAME,
            "Turns on a device",
            {"type": "object", "properties": {"name": {"type": "string"}}},
        ),
    ),
)
AUDIO = b"\x01\x00" * 4800  # 200 ms

# Values a mistyped field gets: wrong types, non-ASCII, base64-looking text.
_VALUES: list[Any] = [
    None,
    0,
    -1,
    3.5,
    True,
    "",
    "x",
    "\u00df\u00fc\u20ac",
    "AAA=",
    [],
    {},
    [1, "a", None],
    {"client_ref": 5},
    {"text": 7, "transcript": None},
    10**40,
]
_DEEP = "[" * 10_000 + "]" * 10_000
_CLOSES: list[Frame] = [
    Close(1000),
    Close(1001, "Your session hit the maximum duration of 60 minutes."),
    Close(1011, "internal error"),
    Close(3000, "invalid_request_error.invalid_api_key"),
    Close(4000, "The Realtime Beta API is no longer supported."),
    Abort(),
]
_ERRORS: list[tuple[str | None, str, bool]] = [  # code, type, names the request
    ("rate_limit_exceeded", "rate_limit_error", False),
    ("insufficient_quota", "insufficient_quota", False),
    ("server_error", "server_error", False),
    (None, "server_error", False),
    ("session_expired", "invalid_request_error", False),
    ("invalid_api_key", "invalid_request_error", False),
    ("conversation_already_has_active_response", "invalid_request_error", True),
    ("invalid_value", "invalid_request_error", True),
    ("response_cancel_not_active", "invalid_request_error", True),
    ("rate_limit_exceeded", "rate_limit_error", True),
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key / index path inside a JSON value."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*path, key))
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*path, index))
            found += _paths(child, (*path, index))
    return found


def _parent(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        value = value[key]
    return value


class Mutator(Script):
    """The realistic script, broken according to the case's seed."""

    def __init__(self, dialect: Dialect, seed: int) -> None:
        super().__init__(dialect)
        self.rng = random.Random(seed)
        self.log: list[str] = []
        self.control = self.rng.random() < 0.08  # played as is
        self.sent = 0
        self.close_after: int | None = None
        self.closed = False
        if not self.control and self.rng.random() < 0.15:
            self.close_after = self.rng.randrange(3, 70)
        # Per-case intensity: some cases are barely touched, some are wrecked.
        self.p = self.rng.choice([0.01, 0.03, 0.06, 0.12])

    def hello(self) -> list[Frame]:
        frames = super().hello()
        if self.rng.random() < 0.2:  # rarely break the handshake itself
            return self._mutate(None, frames)
        return self._count(frames)

    def reply(self, event: Json) -> list[Frame]:
        return self._mutate(event, super().reply(event))

    def _note(self, what: str, frame: Frame | None = None) -> None:
        kind = frame.get("type") if isinstance(frame, dict) else ""
        self.log.append(f"{what}:{kind}" if kind else what)

    def _copy(self, frame: Json) -> Json:
        return json.loads(json.dumps(frame))

    def _mistype(self, frame: Json) -> Frame:
        frame = self._copy(frame)
        paths = [p for p in _paths(frame) if p != ("type",) or self.rng.random() < 0.1]
        if not paths:
            return frame
        path = self.rng.choice(paths)
        if self.rng.random() < 0.05:  # nested far beyond any parser's recursion
            _parent(frame, path)[path[-1]] = "@@deep@@"
            self._note(f"deep {'.'.join(map(str, path))}", frame)
            return Raw(json.dumps(frame).replace('"@@deep@@"', _DEEP))
        value = self.rng.choice(_VALUES)
        _parent(frame, path)[path[-1]] = value
        self._note(f"mistype {'.'.join(map(str, path))}={value!r:.20}", frame)
        return frame

    def _remove(self, frame: Json) -> Frame:
        frame = self._copy(frame)
        paths = [p for p in _paths(frame) if isinstance(_parent(frame, p), dict)]
        if paths:
            path = self.rng.choice(paths)
            del _parent(frame, path)[path[-1]]
            self._note(f"remove {'.'.join(map(str, path))}", frame)
        return frame

    def _error(self, event: Json | None) -> Json:
        code, error_type, names_request = self.rng.choice(_ERRORS)
        event_id = None
        if names_request:
            event_id = (event or {}).get("event_id") or "evt_someone_else"
        self.log.append(f"error {code} {'for request' if event_id else ''}")
        return self.error(code, event_id, f"Injected {code}", error_type)

    def _junk(self) -> Frame:
        junk: list[Frame] = [
            b"\x00\x01binary",
            Raw("not json"),
            Raw("[]"),
            Raw('{"type": 5}'),
            Raw('{"type": "response.done", "response": ' + _DEEP + "}"),
            Raw('{"type": "response.output_audio.delta", "delta": "\u00df"}'),
        ]
        frame = self.rng.choice(junk)
        self.log.append(f"junk {frame!r:.30}")
        return frame

    def _mutate(self, event: Json | None, frames: list[Frame]) -> list[Frame]:
        if self.control or self.closed:
            return self._count(frames)
        rng, p = self.rng, self.p
        out: list[Frame] = []
        for frame in frames:
            assert isinstance(frame, dict)
            roll = rng.random()
            if roll < p:
                self._note("drop", frame)
                continue
            if roll < 2 * p:
                self._note("duplicate", frame)
                out += [frame, frame]
                continue
            if roll < 3 * p:
                out.append(self._mistype(frame))
            elif roll < 3.7 * p:
                out.append(self._remove(frame))
            elif roll < 4 * p:
                text = json.dumps(frame)
                self._note("truncate", frame)
                out.append(Raw(text[: rng.randrange(len(text))]))
            else:
                out.append(frame)
        if len(out) > 1 and rng.random() < 4 * p:
            i, j = rng.sample(range(len(out)), 2)
            out[i], out[j] = out[j], out[i]
            self.log.append(f"swap {i}<->{j}")
        if rng.random() < 2 * p:
            out.insert(rng.randrange(len(out) + 1), self._error(event))
        if rng.random() < 2 * p:
            unknown = self.event("response.future_thing.delta", payload={"a": 1})
            out.insert(rng.randrange(len(out) + 1), unknown)
            self.log.append("unknown event")
        if rng.random() < p:
            out.insert(rng.randrange(len(out) + 1), self._junk())
        if event is not None and rng.random() < p:
            out = [self._error(dict(event, event_id=event.get("event_id")))]
            self.log.append("rejected")
        return self._count(out)

    def _count(self, frames: list[Frame]) -> list[Frame]:
        if self.close_after is not None and self.sent + len(frames) >= self.close_after:
            keep = self.close_after - self.sent
            close = self.rng.choice(_CLOSES)
            self.log.append(f"close after {self.close_after}: {close!r}")
            frames = [*frames[:keep], close]
            self.close_after, self.closed = None, True
        self.sent += len(frames)
        return frames


@dataclass
class Case:
    """What one case saw."""

    seed: int
    dialect: Dialect
    steps: list[str] = field(default_factory=list)  # step: outcome
    findings: list[str] = field(default_factory=list)
    completed: bool = False


# TimeoutError is documented for these requests' deadlines only.
_TIMEOUT_OK = frozenset({"connect", "commit", "transcript"})


async def _step(case: Case, name: str, run: Callable[[], Any]) -> Any:
    """Run one step; record the documented failures, flag anything else."""
    try:
        result = await run()
    except RealtimeError as err:
        case.steps.append(f"{name}: {type(err).__name__}")
        raise _StopError from err
    except TimeoutError as err:
        case.steps.append(f"{name}: TimeoutError")
        if name not in _TIMEOUT_OK:
            case.findings.append(f"{name}: undocumented TimeoutError")
        raise _StopError from err
    case.steps.append(f"{name}: ok")
    return result


class _StopError(Exception):
    """The flow cannot go on after a documented failure."""


async def _drain(stream: ResponseStream) -> ResponseStream:
    async for _event in stream:
        pass
    return stream


async def _flow(
    session: RealtimeSession, case: Case, streams: list[ResponseStream], step: float
) -> None:
    await _step(case, "append", lambda: session.append_audio(AUDIO))
    commit = await _step(
        case, "start_commit", lambda: session.start_commit(timeout=step)
    )
    stream = await _step(case, "create", session.create_response)
    streams.append(stream)
    item_id: str | None = None
    try:
        item_id = await _step(case, "commit", lambda: commit)
        transcript = await _step(
            case, "transcript", lambda: session.wait_transcript(item_id, timeout=step)
        )
        if transcript != TRANSCRIPT:
            case.steps.append("transcript differs")
    except _StopError:
        if session.closed:
            raise
    try:
        await _step(case, "answer", lambda: _drain(stream))
    except _StopError:
        if session.closed:
            raise
    for call in stream.function_calls:
        await _step(
            case,
            "result",
            lambda call=call: session.send_function_result(call.call_id, '{"ok": 1}'),
        )
    follow = await _step(
        case,
        "create_again",
        lambda: session.create_response(modalities=("text",), cancel_active=True),
    )
    streams.append(follow)
    await _step(case, "follow_up", lambda: _drain(follow))
    case.completed = (
        item_id is not None
        and len(stream.function_calls) == 1
        and follow.text == FOLLOW_UP
    )


def _leftovers(session: RealtimeSession, streams: list[ResponseStream]) -> list[str]:
    """Anything still waiting after close(): each is a caller that would hang."""
    state = session._state
    found = [f"stream {s.ref} not finished" for s in streams if not s.finished]
    found += [
        f"waiter {w.event_id} pending" for w in state.waiters if not w.future.done()
    ]
    found += [f"pending response {ref}" for ref in state.pending]
    found += [f"by_event {eid}" for eid in state.by_event]
    found += [f"stream {rid} still routed" for rid in state.streams]
    found += [
        f"transcript {i} pending"
        for i, r in state.transcripts.items()
        if not r.future.done()
    ]
    if not session._reader.done():
        found.append("reader still running")
    elif not session._reader.cancelled() and session._reader.exception() is not None:
        found.append(f"reader raised {session._reader.exception()!r}")
    return found


async def _run_case(
    http: aiohttp.ClientSession, server: ScriptServer, seed: int, dialect: Dialect
) -> Case:
    case = Case(seed, dialect)
    model = f"fuzz-{seed}"
    streams: list[ResponseStream] = []
    session: RealtimeSession | None = None
    step = CONTROL_STEP if _script(server, seed).control else STEP
    deadline = asyncio.timeout(CASE_DEADLINE + step)
    try:
        async with deadline:
            session = await _step(
                case,
                "connect",
                lambda: RealtimeSession.connect(
                    http,
                    server.endpoint(model, dialect),
                    CONFIG,
                    timeout=step,
                    response_idle_timeout=step,
                ),
            )
            with contextlib.suppress(_StopError):
                await _flow(session, case, streams, step)
            if session.closed and not _script(server, seed).closed:
                case.findings.append(
                    f"session ended, the connection was open: {session.error!r}"
                )
    except _StopError:
        pass
    except TimeoutError:
        if not deadline.expired():
            raise
        case.findings.append(f"hang: still running after {CASE_DEADLINE} s")
    except Exception as err:  # every other exception is a finding
        case.findings.append(
            f"unexpected {err!r}: " + "".join(traceback.format_exception(err)[-3:])
        )
    finally:
        if session is not None:
            await session.close()
            case.findings += _leftovers(session, streams)
    return case


def _script(server: ScriptServer, seed: int) -> Mutator:
    """The case's script (an empty one if the case never reached the server)."""
    script = server.scripts.get(f"fuzz-{seed}") or Mutator("ga", seed)
    assert isinstance(script, Mutator)
    return script


@pytest.fixture
async def server() -> AsyncIterator[ScriptServer]:
    """One scripted server for every case; the model name carries the seed."""

    def factory(model: str, dialect: Dialect) -> Script:
        return Mutator(dialect, int(model.removeprefix("fuzz-")))

    srv = ScriptServer(factory)
    await srv.start()
    yield srv
    await srv.stop()


def _cases() -> list[tuple[int, Dialect]]:
    if seed := os.environ.get("FUZZ_SEED"):
        dialect: Dialect = "beta" if os.environ.get("FUZZ_DIALECT") == "beta" else "ga"
        return [(int(seed), dialect)]
    return [(BASE_SEED + n, "ga" if n % 2 == 0 else "beta") for n in range(CASES)]


async def test_fuzzed_server_scripts(
    server: ScriptServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """≥ 2,000 mutated scripts: only documented errors, no reader failure, no
    unretrieved exception, no hang, nothing left waiting."""
    loop = asyncio.get_running_loop()
    unseen: list[str] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unseen.append(str(context)))
    # Older HA harnesses run the loop in debug mode, which triples the CPU cost of
    # every callback; the fuzz checks the library, not asyncio's bookkeeping.
    debug = loop.get_debug()
    loop.set_debug(False)
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    gate = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)

    async def one(seed: int, dialect: Dialect) -> Case:
        async with gate:
            return await _run_case(http, server, seed, dialect)

    try:
        async with aiohttp.ClientSession(connector=connector) as http:
            cases = await asyncio.gather(*(one(s, d) for s, d in _cases()))
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous_handler)
        loop.set_debug(debug)
    elapsed = time.monotonic() - started

    failures = [
        r.getMessage()
        for r in caplog.records
        if any(
            words in r.getMessage()
            for words in ("reader failed", "never retrieved", "handling failed")
        )
    ]
    findings = [
        f"seed={c.seed} dialect={c.dialect}: {finding}\n"
        f"  steps: {c.steps}\n  mutations: {_script(server, c.seed).log}"
        for c in cases
        for finding in c.findings
    ]
    outcomes = Counter(
        "completed" if c.completed else (c.steps[-1] if c.steps else "?") for c in cases
    )
    controls = [c for c in cases if _script(server, c.seed).control]
    with capsys.disabled():  # the figures worth seeing on every run
        print(
            f"\nfuzz: {len(cases)} cases in {elapsed:.1f} s; {len(controls)} "
            f"unmutated; {len(findings)} findings; "
            f"outcomes: {outcomes.most_common(12)}"
        )
    assert not findings, "\n".join(findings[:15])
    assert not failures, failures[:10]
    assert not unseen, unseen[:10]
    assert all(c.completed for c in controls), [
        c.steps for c in controls if not c.completed
    ]
    if len(cases) >= CASES:
        assert outcomes["completed"] > CASES // 10  # the flow is not just failing
