"""The `scripts/develop` house end to end, as a newcomer would use it.

Starts the emulator and a real `hass` process on free loopback ports, configured by
scripts/dev_config.py exactly as scripts/develop does (minus the frontend package),
then talks to it with tools/satellite.py: the README's first suggestion, a spoken
turn from the WAV tools/speech_wav writes, and one with --say continuing the same
conversation, checking the demo light through HA's REST API. Then scripts/develop
itself: in the background, restarted on another emulator port, stopped by SIGTERM.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shlex
import signal
import subprocess
import sys
import time
import wave

import pytest

from realtime_emulator import speech
from scripts import dev_config

from .house import (
    LIGHT,
    ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TURN_TIMEOUT,
    DevHouse,
    free_ports,
    listening,
    logs_on_failure,
    run_tool,
)

pytestmark = pytest.mark.system


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
    with logs_on_failure(dev_house.logs):
        before = dev_house.state(LIGHT)
        typed = dev_house.satellite("--text", readme_first_suggestion())
        assert typed["answer"] == "Turned off the kitchen lights."
        assert (before, dev_house.state(LIGHT)) == ("on", "off")

        question, reply = tmp_path / "question.wav", tmp_path / "reply.wav"
        written = run_tool(
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
    with logs_on_failure(dev_house.logs):
        base_url = dev_house.emulator_url
        for key in ("sk-wrong", ""):
            result = dev_house.add_compatible_server(base_url, key)
            assert result["errors"] == {"base": "invalid_auth"}, key
        # The key the form's description names; same endpoint and key: a duplicate.
        result = dev_house.add_compatible_server(base_url, "dev-emulator-key")
        assert result["type"] == "abort"
        assert result["reason"] == "already_configured"


@pytest.mark.skipif(
    dev_config.http_storage("127.0.0.1", 8123) is None,
    reason="this Home Assistant reads its HTTP settings from YAML",
)
def test_the_http_settings_need_no_confirmation(dev_house: DevHouse) -> None:
    """HA 2026.11 keeps its HTTP settings in storage and tries YAML's for five
    minutes only, then restarts on port 8123 on every interface (or stops): the
    house's settings are stored as confirmed, with nothing on trial."""
    config = dev_house.token_file.parent / "config"
    stored = json.loads((config / ".storage/http").read_text())["data"]
    assert stored["pending"] is None
    assert stored["stable"]["server_host"] == ["127.0.0.1"]
    assert f":{stored['stable']['server_port']}" in dev_house.url
    assert "\nhttp:" not in (config / "configuration.yaml").read_text()


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
    while _alive(develop.pid) or any(listening(port) for port in ports):
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
    ha_port, first_port, second_port = free_ports(3)
    config = tmp_path / "dev"
    common = ("--config-dir", str(config), "--port", str(ha_port))
    develop = _start_develop(
        tmp_path / "first.log", *common, "--emulator-port", str(first_port)
    )
    develop_runs.append(develop)
    with logs_on_failure([develop.log, config / "config/home-assistant.log"]):
        suggestion = shlex.split(develop.wait_ready())
        assert suggestion[0] == "tools/satellite"
        house = DevHouse(f"http://127.0.0.1:{ha_port}", config / "token")
        before = house.state(LIGHT)
        printed = run_tool("tools/satellite.py", *suggestion[1:])
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
        printed = run_tool("tools/satellite.py", *suggestion[1:])
        assert printed["answer"] == "Turned off the kitchen lights."
        _stop(develop, ha_port, second_port)
