"""System-test fixtures: the develop house."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .house import DevHouse, start_dev_house


@pytest.fixture
def dev_house(tmp_path: Path) -> Iterator[DevHouse]:
    """The develop house in tmp_path, seeded and ready; stopped afterwards."""
    yield from start_dev_house(tmp_path)
