"""The development Home Assistant: its configuration, and a launcher for it.

Shared by `scripts/develop` and the system tests (tests/system), so that both run
the same house:

  python scripts/dev_config.py write --config DIR --port 8123 --token-file FILE \
      [--emulator-url http://127.0.0.1:8765/v1 | --real] [--no-frontend]
  python scripts/dev_config.py emulator --port 8765 [emulator arguments...]
  python scripts/dev_config.py hass --config DIR [hass arguments...]

`write` (re)writes configuration.yaml (a demo house, our integration, the dev_seed
component that creates the login, token, entry and pipeline), links the components
in and skips onboarding. The seed touches READY_FILE in the config directory once
everything is in place; `write` removes a stale one, so waiting for it is reliable.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import importlib
import json
from pathlib import Path
import sys
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_FILE = "dev_seed.ready"
USERNAME = "dev"
PASSWORD = "dev"  # noqa: S105 - a loopback-only development login
# The key the develop emulator accepts (`emulator` starts it with --api-key) and the
# seeded entry uses: any other key, an empty one too, is rejected as by OpenAI.
EMULATOR_KEY = "dev-emulator-key"
# Onboarding done: the seed creates the login, so the wizard is not needed.
_ONBOARDING = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["user", "core_config", "analytics", "integration"]},
}


def _quote(value: str) -> str:
    """A YAML scalar (a JSON string is a valid double-quoted YAML scalar)."""
    return json.dumps(value)


def entry_yaml(emulator_url: str | None) -> str:
    """The dev_seed entry: the emulator at `emulator_url`, or OpenAI (None)."""
    if emulator_url is None:
        return "{endpoint_kind: openai, api_key: !env_var OPENAI_API_KEY}"
    return (
        f"{{endpoint_kind: custom, base_url: {_quote(emulator_url)}, "
        f"api_key: {EMULATOR_KEY}}}"
    )


def ffmpeg_binary() -> str:
    """The static ffmpeg of the imageio-ffmpeg wheel (requirements_test.txt).

    Satellites ask HA's TTS for a sample rate or format, which HA converts with
    ffmpeg; without one they get HTTP 500 and silence. The wheel's binary needs
    nothing installed on the system.
    """
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _url_host(address: str) -> str:
    """An IP address as a URL's host ([::1] for IPv6)."""
    return f"[{address}]" if ":" in address else address


def configuration_yaml(
    *,
    port: int,
    listen: str = "127.0.0.1",
    token_file: Path,
    ready_file: Path,
    emulator_url: str | None,
    frontend_repo: Path | None = None,
    http_in_storage: bool = False,
) -> str:
    """configuration.yaml of the demo house with OpenAI Realtime as its assistant.

    `http_in_storage`: this HA keeps its HTTP settings in storage (see
    `http_storage`), so they are not written here.
    """
    # Explicit components rather than default_config: faster, and no requirements
    # beyond what the venvs hold. HA always sets `frontend` up and goes into recovery
    # mode if it fails; pointing it at an empty "development repo" lets it start
    # without the home-assistant-frontend package (the UI is then blank).
    components = [
        "config:",
        "api:",
        "conversation:",
        "ffmpeg:",
        f"  ffmpeg_bin: {_quote(ffmpeg_binary())}",
        "assist_pipeline:",
        "demo:",
    ]
    if frontend_repo is None:
        components.insert(0, "frontend:")
    else:
        components[:0] = [
            "frontend:",
            f"  development_repo: {_quote(str(frontend_repo))}",
        ]
    return "\n".join(
        [
            "# Written by scripts/dev_config.py: a demo house with OpenAI Realtime.",
            "homeassistant:",
            "  name: Demo house",
            "  latitude: 52.37",
            "  longitude: 4.89",
            "  elevation: 0",
            "  unit_system: metric",
            "  time_zone: UTC",
            "  country: NL",
            "  currency: EUR",
            # The URL satellites fetch answers from (TTS); a satellite on another
            # machine needs `listen` to be an address it can reach.
            f"  internal_url: {_quote(f'http://{_url_host(listen)}:{port}')}",
            *(
                []
                if http_in_storage
                else [
                    "http:",
                    f"  server_host: {_quote(listen)}",
                    f"  server_port: {port}",
                ]
            ),
            *components,
            "logger:",
            "  default: warning",
            "  logs:",
            "    custom_components.openai_realtime: debug",
            "    custom_components.dev_seed: info",
            # A start-up traceback that does not matter here: no libturbojpeg (the
            # demo camera's snapshots).
            "    homeassistant.components.camera.img_util: critical",
            "dev_seed:",
            f"  username: {USERNAME}",
            f"  password: {PASSWORD}",
            f"  token_file: {_quote(str(token_file))}",
            f"  ready_file: {_quote(str(ready_file))}",
            f"  entry: {entry_yaml(emulator_url)}",
            "",
        ]
    )


def http_storage(listen: str, port: int) -> dict[str, Any] | None:
    """`.storage/http` holding the house's HTTP settings, where HA stores them.

    HA 2026.11 keeps them in storage: it takes `http:` from YAML once, as an
    unconfirmed trial, and after five minutes without a click on "Confirm" it
    restarts on its defaults (port 8123, every interface) or stops. The settings
    go straight into the confirmed ("stable") slot instead, with the YAML
    migration marked done; each `write` replaces them, so --port and --listen
    apply on every start. None where HA still reads them from YAML.
    """
    try:  # by name: older HA has no such module (nor do their type stubs)
        http_config = importlib.import_module("homeassistant.components.http.config")
    except ImportError:
        return None
    schema = getattr(http_config, "HTTP_STORAGE_SCHEMA", None)
    if schema is None or not hasattr(http_config, "HTTPConfigStore"):
        return None
    stable = dict(schema({"server_host": [listen], "server_port": port}))
    stable |= {
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    return {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }


def _link(link: Path, target: Path) -> None:
    """Point `link` at `target`, replacing whatever link was there."""
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)


def write_config(
    config_dir: Path,
    *,
    port: int,
    listen: str = "127.0.0.1",
    token_file: Path,
    emulator_url: str | None,
    frontend: bool = True,
) -> Path:
    """Write the configuration into `config_dir`; return the seed's ready file."""
    components = config_dir / "custom_components"
    storage = config_dir / ".storage"
    components.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    _link(components / "openai_realtime", ROOT / "custom_components/openai_realtime")
    _link(components / "dev_seed", ROOT / "scripts/dev_seed")
    ready_file = config_dir / READY_FILE
    ready_file.unlink(missing_ok=True)
    http = http_storage(listen, port)
    if http is not None:
        # Private, as HA writes it. A StrEnum (the SSL profile) is written as its value.
        path = storage / "http"
        path.write_text(json.dumps(http, indent=2))
        path.chmod(0o600)
    frontend_repo = None
    if not frontend:
        frontend_repo = config_dir / "no-frontend"
        frontend_repo.mkdir(exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        configuration_yaml(
            port=port,
            listen=listen,
            token_file=token_file.resolve(),
            ready_file=ready_file.resolve(),
            emulator_url=emulator_url,
            frontend_repo=frontend_repo,
            http_in_storage=http is not None,
        )
    )
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(json.dumps(_ONBOARDING))
    return ready_file


def run_hass(argv: list[str], *, install_requirements: bool = False) -> int:
    """Run Home Assistant in this process with `argv` as its arguments.

    Every requirement of this configuration is in the venv. Integrations the user
    adds later (ESPHome for a Voice PE, ...) may need more: with
    `install_requirements` HA installs those as it normally does.
    """
    from homeassistant import __main__ as hass_main, const

    required = const.REQUIRED_PYTHON_VER
    # HA 2026.x asks for Python 3.13.2 but runs on 3.13.0 (scripts/setup installs it
    # with --ignore-requires-python): only the minor version is checked here.
    if sys.version_info[:2] < required[:2]:
        sys.exit(f"Home Assistant needs Python {required[0]}.{required[1]}")
    hass_main.validate_python = lambda: None
    # --skip-pip (the system tests): nothing is installed, so a requirement missing
    # from the venv fails at once instead of fetching it from PyPI while HA starts.
    sys.argv = ["hass", *([] if install_requirements else ["--skip-pip"]), *argv]
    return hass_main.main()


def run_emulator(argv: list[str]) -> None:
    """Run the Realtime API emulator in this process, accepting EMULATOR_KEY only."""
    sys.path.insert(0, str(ROOT))
    from realtime_emulator.__main__ import main as emulator_main

    sys.argv = ["realtime_emulator", "--api-key", EMULATOR_KEY, *argv]
    emulator_main()


def main(argv: list[str] | None = None) -> int:
    """`write` a configuration, run the `emulator`, or run `hass` on one."""
    parser = argparse.ArgumentParser(prog="scripts/dev_config.py")
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the configuration")
    write.add_argument("--config", type=Path, required=True)
    write.add_argument("--port", type=int, required=True, help="HA's HTTP port")
    write.add_argument(
        "--listen", default="127.0.0.1", help="the address HA listens on (one IP)"
    )
    write.add_argument("--token-file", type=Path, required=True)
    endpoint = write.add_mutually_exclusive_group(required=True)
    endpoint.add_argument("--emulator-url", help="the emulator's /v1 base URL")
    endpoint.add_argument("--real", action="store_true", help="OpenAI (env key)")
    write.add_argument("--no-frontend", dest="frontend", action="store_false")
    hass = commands.add_parser(
        "hass", help="run Home Assistant (other arguments pass through)"
    )
    hass.add_argument(
        "--install-requirements",
        action="store_true",
        help="let HA install what integrations added later need (not --skip-pip)",
    )
    commands.add_parser(
        "emulator",
        add_help=False,  # --help is the emulator's
        help="run the emulator with the develop key (arguments pass through)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "hass":
        return run_hass(rest, install_requirements=args.install_requirements)
    if args.command == "emulator":
        run_emulator(rest)
        return 0
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    write_config(
        args.config,
        port=args.port,
        listen=args.listen,
        token_file=args.token_file,
        emulator_url=None if args.real else args.emulator_url,
        frontend=args.frontend,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
