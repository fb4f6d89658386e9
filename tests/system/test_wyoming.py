"""A real Wyoming satellite in the develop house (opt-in: OPENAI_REALTIME_WYOMING=1).

`wyoming-satellite` (its own venv: scripts/setup_wyoming_satellite) runs with a mic
program that plays the emulator's tone speech, a wake program that hears the tone
word "okay house", and a speaker program that records what it is played. Home
Assistant's `wyoming` integration is added through its config flow, as in the
browser; the satellite's events go to a small event service here. Run it with:

    scripts/setup_wyoming_satellite
    OPENAI_REALTIME_WYOMING=1 .venv/bin/python -m pytest -m wyoming tests/system
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import json
import os
from pathlib import Path
import shlex
import socket
import socketserver
import sys
import threading
import time
from typing import Any

import pytest

from realtime_emulator import speech

from .house import (
    LIGHT,
    ROOT,
    DevHouse,
    free_ports,
    logs_on_failure,
    processes_stopped_after,
    spawn,
)

pytestmark = [
    pytest.mark.system,
    pytest.mark.wyoming,
    pytest.mark.skipif(
        os.environ.get("OPENAI_REALTIME_WYOMING") != "1",
        reason="opt-in: OPENAI_REALTIME_WYOMING=1 (after scripts/setup_wyoming_satellite)",
    ),
]

SATELLITE_PYTHON = ROOT / ".venv-wyoming-satellite/bin/python"
PROGRAMS = Path(__file__).with_name("wyoming_programs.py")
WAKE_WORD = "okay house"
COMMAND = "turn off the kitchen lights"
ANSWER = "Turned off the kitchen lights."
SND_RATE = 22050  # what wyoming-satellite asks Home Assistant for by default
TURN_TIMEOUT = 60.0  # HA's VAD may only end a tone "command" at its 15 s timeout


class EventService:
    """A Wyoming event service (--event-uri): records the satellite's events."""

    def __init__(self) -> None:
        """Nothing heard yet."""
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()

    def add(self, kind: str, data: dict[str, Any]) -> None:
        """Record one event."""
        with self._changed:
            self.events.append((kind, data))
            self._changed.notify_all()

    def wait_for(self, kind: str, timeout: float = TURN_TIMEOUT) -> dict[str, Any]:
        """The data of the first event of `kind`, once it came."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: any(k == kind for k, _ in self.events), timeout
            ):
                pytest.fail(f"no {kind} event; got {[k for k, _ in self.events]}")
            return next(data for k, data in self.events if k == kind)

    def serve(self, port: int) -> Callable[[], None]:
        """Listen on 127.0.0.1:`port`; returns what stops it."""
        service = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while header := self.rfile.readline():
                    event = json.loads(header)
                    data = dict(event.get("data") or {})
                    if length := event.get("data_length"):
                        data |= json.loads(self.rfile.read(length))
                    if length := event.get("payload_length"):
                        self.rfile.read(length)
                    service.add(event["type"], data)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        return stop


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TURN_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def events() -> Iterator[tuple[EventService, int]]:
    """The event service the satellite forwards to, and its port."""
    [port] = free_ports(1)
    service = EventService()
    stop = service.serve(port)
    yield service, port
    stop()


def test_wyoming_satellite_wakes_asks_and_hears_the_answer(
    dev_house: DevHouse, tmp_path: Path, events: tuple[EventService, int]
) -> None:
    """Wake word, command, answer: the light goes off, the satellite is told the
    answer in the pipeline's voice (the entry's) and plays it."""
    if not SATELLITE_PYTHON.exists():
        pytest.fail("no wyoming-satellite: run scripts/setup_wyoming_satellite first")
    service, event_port = events
    [satellite_port] = free_ports(1)
    script, go, played = tmp_path / "mic.raw", tmp_path / "go", tmp_path / "snd.raw"
    rate = 16000
    script.write_bytes(
        speech.encode(WAKE_WORD, rate=rate)
        + bytes(2 * rate)  # a second between the wake word and the command
        + speech.encode(COMMAND, rate=rate)
    )
    program = [sys.executable, str(PROGRAMS)]
    log = tmp_path / "satellite.log"
    dev_house.logs.append(log)
    with processes_stopped_after() as processes, logs_on_failure(dev_house.logs):
        spawn(
            processes,
            log,
            *("-m", "wyoming_satellite", "--debug", "--no-zeroconf"),
            *("--uri", f"tcp://127.0.0.1:{satellite_port}", "--name", "Test satellite"),
            *(
                "--mic-command",
                shlex.join([*program, "mic", "--script", str(script), "--go", str(go)]),
            ),
            *("--wake-command", shlex.join([*program, "wake", "--word", WAKE_WORD])),
            *("--snd-command", shlex.join([*program, "snd", "--out", str(played)])),
            *("--snd-command-rate", str(SND_RATE)),
            *("--event-uri", f"tcp://127.0.0.1:{event_port}"),
            python=str(SATELLITE_PYTHON),
            # Its own venv and nothing else (its wyoming library is older than HA's).
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        _wait(lambda: _listening(satellite_port), "the satellite")
        added = dev_house.add_integration(
            "wyoming", {"host": "127.0.0.1", "port": satellite_port}
        )
        assert added["type"] == "create_entry", added
        service.wait_for("run-satellite")  # Home Assistant is listening to it
        assert dev_house.state(LIGHT) == "on"

        go.touch()
        service.wait_for("detection")
        assert service.wait_for("transcript")["text"] == COMMAND
        synthesize = service.wait_for("synthesize")
        assert synthesize["text"] == ANSWER
        # The pipeline's voice is the entry's: the one the answer is spoken in.
        assert synthesize["voice"]["name"] == "marin"
        service.wait_for("audio-stop")
        _wait(
            lambda: (
                played.exists()
                and speech.decode(played.read_bytes(), SND_RATE)
                == speech.normalise(ANSWER)
            ),
            "the answer played on the satellite",
        )
        assert dev_house.state(LIGHT) == "off"
