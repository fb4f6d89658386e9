"""Run a Home Assistant bench through pytest, so HA comes up exactly as in the tests.

The harness (pytest-homeassistant-custom-component) must load before any
`homeassistant` module is imported: a bench calls `run(__file__)` under
`if __name__ == "__main__":`, before its own HA imports. This module imports
nothing from HA.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def run(bench_file: str, *, timeout: int = 1800) -> int:
    """pytest's exit code for the bench module's test, its output printed (-s)."""
    return int(
        pytest.main(
            [
                bench_file,
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(Path(__file__).resolve().parent.parent),
                f"--timeout={timeout}",
                "-o",
                "filterwarnings=ignore",
            ]
        )
    )
