"""The protocol library carries no dead helpers: every public function is used."""

from __future__ import annotations

import ast
from pathlib import Path
import re

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "custom_components" / "openai_realtime" / "realtime"
# Where the library's users live: the integration, the emulator, tests, tools.
USERS = ("custom_components", "realtime_emulator", "tests", "bench", "tools", "scripts")
MODULES = (
    "events",
    "session",
    "connection",
    "errors",
    "backoff",
    "endpoint",
    "client_secrets",
)


def _sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for folder in USERS
        if (ROOT / folder).is_dir()
        for path in (ROOT / folder).rglob("*.py")
    }


def _public_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
    ]


@pytest.mark.parametrize("module", MODULES)
def test_every_public_function_is_used(module: str) -> None:
    """A public function no module of the repository calls is dead code."""
    path = LIBRARY / f"{module}.py"
    sources = _sources()
    unused = [
        name
        for name in _public_functions(path)
        if not any(
            re.search(rf"\b{name}\b", text)
            for other, text in sources.items()
            if other != path
        )
        and len(re.findall(rf"\b{name}\b", sources[path])) < 2
    ]
    assert not unused, f"unused in {module}.py: {unused}"
