"""The develop house for system tests: the emulator and a real `hass` process.

Configured by scripts/dev_config.py exactly as scripts/develop does (minus the
frontend package), on free loopback ports; and helpers to run the tools against it.
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
from typing import Any
import urllib.request

import pytest

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

    def add_integration(self, handler: str, *steps: dict[str, Any]) -> dict[str, Any]:
        """An integration's config flow, each step's form filled in as in the
        browser; the last step's result."""
        result: dict[str, Any] = self.api(
            "config/config_entries/flow", {"handler": handler}
        )
        for step in steps:
            result = self.api(f"config/config_entries/flow/{result['flow_id']}", step)
        return result

    def add_compatible_server(self, base_url: str, api_key: str) -> dict[str, Any]:
        """Our config flow's compatible-server form, filled in as in the browser."""
        return self.add_integration(
            "openai_realtime",
            {"next_step_id": "custom"},
            {"base_url": base_url, "api_key": api_key},
        )

    def entries(self) -> list[dict[str, Any]]:
        """Our config entries, as the integrations page lists them."""
        entries: list[dict[str, Any]] = self.api(
            "config/config_entries/entry?domain=openai_realtime"
        )
        return entries

    def satellite(self, *args: str) -> dict[str, str]:
        """Run tools/satellite.py; return its printed fields (`answer`, …)."""
        return run_tool(
            "tools/satellite.py",
            *("--url", self.url, "--token-file", str(self.token_file)),
            *args,
        )


def run_tool(script: str, *args: str) -> dict[str, str]:
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
    return printed_fields(done.stdout)


def printed_fields(output: str) -> dict[str, str]:
    """The satellite's `name: value` lines ("you said", "answer", …)."""
    pairs = (line.split(":", 1) for line in output.splitlines() if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def free_ports(count: int) -> list[int]:
    """Loopback ports nobody listens on (held open together, so they differ)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def wait_for(
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


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def logs_on_failure(logs: list[Path]) -> Iterator[None]:
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
def processes_stopped_after() -> Iterator[list[subprocess.Popen[bytes]]]:
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


def spawn(
    processes: list[subprocess.Popen[bytes]],
    log: Path,
    *args: str,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start `python ARGS` from the repository, its output into `log`."""
    with log.open("wb") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(  # noqa: S603 - our own scripts
            [python, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    processes.append(process)
    return process


# As fast as it goes: no pacing and no model delay, so a response sent ahead of its
# commit would answer empty speech (it once did).
FAST_EMULATOR = ("--pacing", "fast", "--model-delay", "0")


def start_dev_house(
    tmp_path: Path, *emulator_args: str, frontend: bool = False
) -> Iterator[DevHouse]:
    """The develop house in tmp_path, seeded and ready; stopped afterwards.

    The emulator is the develop one (its seeded key only) with `emulator_args`
    (FAST_EMULATOR when none); `frontend` serves the web UI too (the browser tests).
    """
    ha_port, emulator_port = free_ports(2)
    config = tmp_path / "config"
    house = DevHouse(
        f"http://127.0.0.1:{ha_port}",
        tmp_path / "token",
        f"http://127.0.0.1:{emulator_port}/v1",
    )
    house.logs = [tmp_path / "hass.log", tmp_path / "emulator.log"]
    with processes_stopped_after() as processes, logs_on_failure(house.logs):
        spawn(
            processes,
            tmp_path / "emulator.log",
            *(str(ROOT / "scripts/dev_config.py"), "emulator"),
            *("--port", str(emulator_port)),
            *(emulator_args or FAST_EMULATOR),
        )
        subprocess.run(  # noqa: S603 - our own scripts
            [
                sys.executable,
                str(ROOT / "scripts/dev_config.py"),
                "write",
                *("--config", str(config), "--port", str(ha_port)),
                *("--token-file", str(house.token_file)),
                *("--emulator-url", house.emulator_url),
                *(() if frontend else ("--no-frontend",)),
            ],
            check=True,
            timeout=TURN_TIMEOUT,
        )
        # The seed checks the endpoint through the config flow: emulator first.
        wait_for(lambda: listening(emulator_port), processes, "the emulator")
        spawn(
            processes,
            tmp_path / "hass.log",
            *(str(ROOT / "scripts/dev_config.py"), "hass", "--config", str(config)),
        )
        wait_for((config / "dev_seed.ready").exists, processes, "the seed")
        assert house.token_file.exists()
        yield house
