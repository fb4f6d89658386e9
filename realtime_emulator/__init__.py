"""A local emulator of the OpenAI Realtime API (GA and beta) for tests and the demo.

    python -m realtime_emulator --port 8765

Modules, by concern:

* server.py: HTTP routes, keys, handshake → `RealtimeEmulator`
* client_secrets.py, webrtc.py: the browser path (ephemeral keys; WebRTC calls
  with their data channel, microphone and voice tracks)
* options.py: the knobs → `EmulatorOptions`
* connection.py: one websocket's session, dispatching client events →
  `EmulatorConnection`
* transport.py: events out with the failure knobs, and the record of the wire
* session_config.py: default configuration per dialect, dialect-neutral reads
* checks.py, validate_ga.py, validate_beta.py: validation, per dialect
* errors.py: error events worded like the real server's
* input_audio.py: input audio buffer and VAD
* conversation.py, items.py: the item store and item shapes
* transcription.py: input audio transcription
* responses.py, output_stream.py: response life cycle and output events
* usage.py: token usage and the content-compared prompt cache
* speech.py: the deterministic tone encoding of text ("speech")
* turns.py, brain.py, house_brain.py, live_context.py: what the model says and does

Importing it does not import Home Assistant.
"""

from __future__ import annotations

from . import speech
from .brain import Brain, CallTool, HouseBrain, Rule, Say, ScriptedBrain, TurnContext
from .connection import EmulatorConnection
from .options import EmulatorOptions
from .server import RealtimeEmulator

__all__ = [
    "Brain",
    "CallTool",
    "EmulatorConnection",
    "EmulatorOptions",
    "HouseBrain",
    "RealtimeEmulator",
    "Rule",
    "Say",
    "ScriptedBrain",
    "TurnContext",
    "speech",
]
