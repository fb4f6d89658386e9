"""OpenAI Realtime for Home Assistant: speech-to-speech through the Assist pipeline.

Importing this package does not import Home Assistant. The protocol library in
`realtime/` lives inside it (HACS installs one folder), and the emulator, the CLI
satellite and the library's own tests import that library without HA. Home
Assistant's entry hooks live in `entry.py` and are looked up here on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .entry import (
        PLATFORMS as PLATFORMS,
        OpenAIRealtimeConfigEntry as OpenAIRealtimeConfigEntry,
        async_remove_entry as async_remove_entry,
        async_setup_entry as async_setup_entry,
        async_unload_entry as async_unload_entry,
    )

_ENTRY_HOOKS = frozenset(
    {"PLATFORMS", "async_setup_entry", "async_unload_entry", "async_remove_entry"}
)


def __getattr__(name: str) -> Any:
    """Home Assistant's hooks, from `entry.py` (imported once, on first lookup)."""
    if name in _ENTRY_HOOKS:
        from . import entry

        return getattr(entry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
