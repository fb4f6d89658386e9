"""Shared fixtures: the local Realtime API emulator on a loopback port."""

from __future__ import annotations

# Import our package first: the harness otherwise resolves `custom_components` to its
# own testing package.
import custom_components.openai_realtime  # noqa: F401
