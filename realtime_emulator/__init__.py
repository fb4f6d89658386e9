"""A local emulator of the OpenAI Realtime API (GA and beta) for tests and the demo.

    python -m realtime_emulator --port 8765

See server.py (routes, knobs), session.py (the protocol state machine), speech.py
(the deterministic "speech" encoding) and brain.py (what the model says and does).
"""

from __future__ import annotations

from . import speech
from .brain import Brain, CallTool, HouseBrain, Rule, Say, ScriptedBrain, TurnContext
from .server import EmulatorOptions, RealtimeEmulator
from .session import EmulatedSession

__all__ = [
    "Brain",
    "CallTool",
    "EmulatedSession",
    "EmulatorOptions",
    "HouseBrain",
    "RealtimeEmulator",
    "Rule",
    "Say",
    "ScriptedBrain",
    "TurnContext",
    "speech",
]
