"""The `scripts/develop` house end to end, as a newcomer would use it.

Starts the emulator and a real `hass` process on free loopback ports, configured by
scripts/dev_config.py exactly as scripts/develop does (minus the frontend package),
then talks to it with tools/satellite.py: the README's first suggestion, a spoken
turn from the WAV tools/speech_wav writes, and one with --say continuing the same
conversation, checking the demo light through HA's REST API. Then scripts/develop
itself: in the background, restarted on another emulator port, stopped by SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
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
    emulator_url: str = ""
    logs: list[Path] = field(default_factory=list)

    @property
    def token(self) -> str:
        """The long-lived token the seed wrote."""
        return self.token_file.read_text().strip()

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (or POST `body` to) HA's REST API; the decoded answer."""
        request = urllib.request.Request(  # noqa: S310 - our own http:// URL
            f"{self.url}/api/{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.load(response)

    def state(self, entity_id: str) -> str:
        """An entity's state through HA's REST API."""
        return str(self.api(f"states/{entity_id}")["state"])

    def add_compatible_server(self, base_url: str, api_key: str) -> dict[str, Any]:
        """The config flow's compatible-server form, filled in as in the browser."""
        flow = self.api("config/config_entries/flow", {"handler": "openai_realtime"})
        path = f"config/config_entries/flow/{flow['flow_id']}"
        self.api(path, {"next_step_id": "custom"})
        result: dict[str, Any] = self.api(
            path, {"base_url": base_url, "api_key": api_key}
        )
        return result

    def entries(self) -> list[dict[str, Any]]:
        """Our config entries, as the integrations page lists them."""
        entries: list[dict[str, Any]] = self.api(
            "config/config_entries/entry?domain=openai_realtime"
        )
        return entries

    def satellite(self, *args: str) -> dict[str, str]:
        """Run tools/satellite.py; return its printed fields (`answer`, …)."""
        return _run_tool(
            "tools/satellite.py",
            *("--url", self.url, "--token-file", str(self.token_file)),
            *args,
        )


def _run_tool(script: str, *args: str) -> dict[str, str]:
    """Run one of tools/*.py; return its printed `name: value` fields."""
    done = subprocess.run(  # noqa: S603 - our own scripts
        [sys.executable, str(ROOT / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TURN_TIMEOUT,
        check=False,
    )
    print(f"$ {script} {' '.join(args)}\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, f"{script} failed: {done.stderr}"
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
    house = DevHouse(
        f"http://127.0.0.1:{ha_port}",
        tmp_path / "token",
        f"http://127.0.0.1:{emulator_port}/v1",
    )
    house.logs = [tmp_path / "hass.log", tmp_path / "emulator.log"]
    with _processes() as processes, _logs_on_failure(house.logs):
        _spawn(
            processes,
            tmp_path / "emulator.log",
            *(str(ROOT / "scripts/dev_config.py"), "emulator"),
            *("--port", str(emulator_port)),
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
                *("--emulator-url", house.emulator_url),
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


def readme_first_suggestion() -> str:
    """What the README tells a newcomer to type first in the develop house."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r'Open Assist and type "([^"]+)"', readme)
    assert found, "the README's develop section no longer suggests a first command"
    return found[1]


def test_develop_house_text_and_voice(dev_house: DevHouse, tmp_path: Path) -> None:
    """The README's first suggestion changes the demo house; a spoken turn from
    the WAV recipe and one with --say, in the same conversation, change it back
    and forth; the answers' audio says what the satellite printed."""
    with _logs_on_failure(dev_house.logs):
        before = dev_house.state(LIGHT)
        typed = dev_house.satellite("--text", readme_first_suggestion())
        assert typed["answer"] == "Turned off the kitchen lights."
        assert (before, dev_house.state(LIGHT)) == ("on", "off")

        question, reply = tmp_path / "question.wav", tmp_path / "reply.wav"
        written = _run_tool(
            "tools/speech_wav.py", "turn on the kitchen lights", str(question)
        )
        assert (
            written[str(question)] == "the emulator hears 'turn on the kitchen lights'"
        )
        spoken = dev_house.satellite("--in", str(question), "--out", str(reply))
        assert spoken["you said"] == "turn on the kitchen lights"
        assert spoken["answer"] == "Turned on the kitchen lights."
        assert dev_house.state(LIGHT) == "on"
        # The answer's audio says what the satellite printed.
        assert _decode_wav(reply) == speech.normalise(spoken["answer"])
        assert re.fullmatch(
            r"end of speech → first audio byte \d+ ms", spoken["timing"]
        )

        conversation_id = spoken["conversation"]
        said = dev_house.satellite(
            "--say", "turn off the kitchen lights", "--conversation-id", conversation_id
        )
        assert said["answer"] == "Turned off the kitchen lights."
        assert said["conversation"] == conversation_id
        assert dev_house.state(LIGHT) == "off"


def test_the_develop_emulator_wants_the_develop_key(dev_house: DevHouse) -> None:
    """Like OpenAI, the develop emulator refuses a wrong or missing key, so the
    form's "invalid key" error can be seen; the key the form names works."""
    with _logs_on_failure(dev_house.logs):
        base_url = dev_house.emulator_url
        for key in ("sk-wrong", ""):
            result = dev_house.add_compatible_server(base_url, key)
            assert result["errors"] == {"base": "invalid_auth"}, key
        # The key the form's description names; same endpoint and key: a duplicate.
        result = dev_house.add_compatible_server(base_url, "dev-emulator-key")
        assert result["type"] == "abort"
        assert result["reason"] == "already_configured"


def _write_wav(path: Path, pcm: bytes, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def _decode_wav(path: Path) -> str:
    with wave.open(str(path), "rb") as wav:
        return speech.decode(wav.readframes(wav.getnframes()), wav.getframerate())


# --- scripts/develop itself ---------------------------------------------------------
LEGS = {".venv": "newest", ".venv-mid": "mid", ".venv-min": "min"}


@dataclass
class Develop:
    """scripts/develop started in the background of a non-interactive shell."""

    pid: int
    log: Path
    group: int  # its process group: what teardown kills if all else failed

    def output(self) -> str:
        """What it printed so far."""
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> str:
        """Until it prints its banner; returns the suggested `Try:` command."""
        deadline = time.monotonic() + START_TIMEOUT
        while (found := re.search(r"^  Try:  (.+)$", self.output(), re.M)) is None:
            if not _alive(self.pid):
                pytest.fail(f"scripts/develop exited:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"scripts/develop did not start:\n{self.output()}")
            time.sleep(0.1)
        return found[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped by its vanished parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _start_develop(log: Path, *args: str) -> Develop:
    """`scripts/develop ARGS &` from a non-interactive shell, as in a CI script."""
    leg = LEGS[Path(sys.prefix).name]
    command = shlex.join(
        ["scripts/develop", "--ha", leg, "--no-setup", "--no-frontend", *args]
    )
    shell = subprocess.run(  # noqa: S603 - our own script
        ["bash", "-c", f"{command} >{shlex.quote(str(log))} 2>&1 & echo $!"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,  # its own group: killable without killing pytest
        timeout=TURN_TIMEOUT,
    )
    pid = int(shell.stdout.strip())
    return Develop(pid, log, os.getpgid(pid))


def _stop(develop: Develop, *ports: int) -> None:
    """SIGTERM, as the README says: it stops, and so do HA and the emulator."""
    os.kill(develop.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT + 35  # develop waits up to 30 s
    while _alive(develop.pid) or any(_listening(port) for port in ports):
        if time.monotonic() > deadline:
            pytest.fail(f"SIGTERM did not stop scripts/develop:\n{develop.output()}")
        time.sleep(0.1)


@pytest.fixture
def develop_runs() -> Iterator[list[Develop]]:
    """Started scripts/develop processes; whatever still runs is killed after."""
    started: list[Develop] = []
    yield started
    for develop in started:
        with suppress(ProcessLookupError):
            os.killpg(develop.group, signal.SIGKILL)


def test_develop_restarts_on_another_port_and_stops_on_sigterm(
    tmp_path: Path, develop_runs: list[Develop]
) -> None:
    """The printed suggestion works; an entry the user added survives a restart on
    another emulator port, where the seeded entry follows; SIGTERM stops it all."""
    ha_port, first_port, second_port = _free_ports(3)
    config = tmp_path / "dev"
    common = ("--config-dir", str(config), "--port", str(ha_port))
    develop = _start_develop(
        tmp_path / "first.log", *common, "--emulator-port", str(first_port)
    )
    develop_runs.append(develop)
    with _logs_on_failure([develop.log, config / "config/home-assistant.log"]):
        suggestion = shlex.split(develop.wait_ready())
        assert suggestion[0] == "tools/satellite"
        house = DevHouse(f"http://127.0.0.1:{ha_port}", config / "token")
        before = house.state(LIGHT)
        printed = _run_tool("tools/satellite.py", *suggestion[1:])
        assert printed["answer"] == "Turned off the kitchen lights."
        assert (before, house.state(LIGHT)) == ("on", "off")
        # The user adds an entry of their own (another URL for the same server).
        added = house.add_compatible_server(
            f"http://localhost:{first_port}/v1", "dev-emulator-key"
        )
        assert added["type"] == "create_entry"
        _stop(develop, ha_port, first_port)

        develop = _start_develop(
            tmp_path / "second.log", *common, "--emulator-port", str(second_port)
        )
        develop_runs.append(develop)
        develop.wait_ready()
        titles = sorted(entry["title"] for entry in house.entries())
        assert titles == [
            f"Realtime (127.0.0.1:{second_port}/v1)",
            f"Realtime (localhost:{first_port}/v1)",
        ]
        printed = _run_tool("tools/satellite.py", *suggestion[1:])
        assert printed["answer"] == "Turned off the kitchen lights."
        _stop(develop, ha_port, second_port)
