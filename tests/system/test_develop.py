"""The `scripts/develop` house end to end, as a newcomer would use it.

Starts the emulator and a real `hass` process on free loopback ports, configured by
scripts/dev_config.py exactly as scripts/develop does (minus the frontend package),
then talks to it with tools/satellite.py: a typed turn and a spoken one (a WAV file
in the emulator's tone "speech"), checking the demo light through HA's REST API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
import json
from pathlib import Path
import socket
import subprocess
import sys
import time
import urllib.request
import wave

import pytest

from realtime_emulator import speech

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
LIGHT = "light.kitchen_lights"
START_TIMEOUT = 60.0  # cold imports on a CI runner; about 3 s when warm
TURN_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@dataclass
class DevHouse:
    """A running emulator + Home Assistant pair and where their logs go."""

    url: str
    token_file: Path
    logs: list[Path] = field(default_factory=list)

    @property
    def token(self) -> str:
        """The long-lived token the seed wrote."""
        return self.token_file.read_text().strip()

    def state(self, entity_id: str) -> str:
        """An entity's state through HA's REST API."""
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            f"{self.url}/api/states/{entity_id}",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return str(json.load(response)["state"])

    def satellite(self, *args: str) -> dict[str, str]:
        """Run tools/satellite.py; return its printed fields (`answer`, …)."""
        done = subprocess.run(  # noqa: S603 - our own scripts
            [
                sys.executable,
                str(ROOT / "tools/satellite.py"),
                *("--url", self.url, "--token-file", str(self.token_file)),
                *args,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TURN_TIMEOUT,
            check=False,
        )
        print(f"$ satellite {' '.join(args)}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, f"satellite failed: {done.stderr}"
        return _fields(done.stdout)


def _fields(output: str) -> dict[str, str]:
    """The satellite's `name: value` lines ("you said", "answer", …)."""
    pairs = (line.split(":", 1) for line in output.splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def _free_ports(count: int) -> list[int]:
    """Loopback ports nobody listens on (held open together, so they differ)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_for(
    ready: Callable[[], bool], processes: list[subprocess.Popen[bytes]], what: str
) -> None:
    """Poll `ready`; fail fast if a process died, or after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if dead := [p.args for p in processes if p.poll() is not None]:
            pytest.fail(f"exited while waiting for {what}: {dead}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _logs_on_failure(logs: list[Path]) -> Iterator[None]:
    """Print the processes' logs when the block fails (pytest shows them then)."""
    try:
        yield
    except GeneratorExit:
        raise
    except BaseException:  # pytest.fail and timeouts are not Exceptions
        for log in logs:
            text = log.read_text(errors="replace") if log.exists() else "(none)"
            print(f"----- {log.name} -----\n{text}")
        raise


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes started into the list are stopped on exit, whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(
    processes: list[subprocess.Popen[bytes]], log: Path, *args: str
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(  # noqa: S603 - our own scripts
            [sys.executable, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    processes.append(process)
    return process


@pytest.fixture
def dev_house(tmp_path: Path) -> Iterator[DevHouse]:
    """The develop house in tmp_path, seeded and ready; stopped afterwards."""
    ha_port, emulator_port = _free_ports(2)
    config = tmp_path / "config"
    house = DevHouse(f"http://127.0.0.1:{ha_port}", tmp_path / "token")
    house.logs = [tmp_path / "hass.log", tmp_path / "emulator.log"]
    with _processes() as processes, _logs_on_failure(house.logs):
        _spawn(
            processes,
            tmp_path / "emulator.log",
            *("-m", "realtime_emulator", "--port", str(emulator_port)),
            # As fast as it goes: no pacing and no model delay, so a response
            # sent ahead of its commit would answer empty speech (it once did).
            *("--pacing", "fast", "--model-delay", "0"),
        )
        subprocess.run(  # noqa: S603 - our own scripts
            [
                sys.executable,
                str(ROOT / "scripts/dev_config.py"),
                "write",
                *("--config", str(config), "--port", str(ha_port)),
                *("--token-file", str(house.token_file)),
                *("--emulator-url", f"http://127.0.0.1:{emulator_port}/v1"),
                "--no-frontend",
            ],
            check=True,
            timeout=TURN_TIMEOUT,
        )
        # The seed checks the endpoint through the config flow: emulator first.
        _wait_for(lambda: _listening(emulator_port), processes, "the emulator")
        _spawn(
            processes,
            tmp_path / "hass.log",
            *(str(ROOT / "scripts/dev_config.py"), "hass", "--config", str(config)),
        )
        _wait_for((config / "dev_seed.ready").exists, processes, "the seed")
        assert house.token_file.exists()
        yield house


def test_develop_house_text_and_voice(dev_house: DevHouse, tmp_path: Path) -> None:
    """A typed turn turns the demo light off, a spoken one on again."""
    with _logs_on_failure(dev_house.logs):
        typed = dev_house.satellite("--text", "turn off the kitchen lights")
        assert typed["answer"] == "Turned off the kitchen lights."
        assert dev_house.state(LIGHT) == "off"

        question, reply = tmp_path / "question.wav", tmp_path / "reply.wav"
        _write_wav(question, speech.encode("turn on the kitchen lights", rate=16000))
        spoken = dev_house.satellite("--in", str(question), "--out", str(reply))
        assert spoken["you said"] == "turn on the kitchen lights"
        assert spoken["answer"] == "Turned on the kitchen lights."
        assert dev_house.state(LIGHT) == "on"
        # The answer's audio says what the satellite printed.
        assert _decode_wav(reply) == speech.normalise(spoken["answer"])


def _write_wav(path: Path, pcm: bytes, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def _decode_wav(path: Path) -> str:
    with wave.open(str(path), "rb") as wav:
        return speech.decode(wav.readframes(wav.getnframes()), wav.getframerate())
