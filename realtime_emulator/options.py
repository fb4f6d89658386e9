"""The emulator's knobs. Tests may change them at any time; connections read them live.

Timing: `model_delay` (before a response's first output), `transcription_delay`,
`audio_pacing` ("fast" = as fast as the socket takes it, "realtime" = at speaking
pace), `audio_speed` (with "realtime": how many seconds of audio a second of
generation makes; a real model makes its audio faster than it is spoken) and
`audio_chunk_ms`.

Failures: `handshake_status` (e.g. 429, 500, 503 at the upgrade: a 5xx server),
`silent_after_handshake` (the websocket opens, `session.created` never comes),
`beta_disabled` (a beta handshake is answered the way OpenAI has since 2026-05-12),
`client_secret_status` (e.g. 404: a compatible server without ephemeral keys),
`keys_without_access` (valid keys whose project may not use the Realtime API or the
model: answered as `access_denied_as` says, "http_403" at the handshake or
"model_not_found" as the session's first event, then the socket closes),
`drop_after_events` (the TCP connection is cut after N server events),
`malformed_after_events` (one non-JSON frame), `session_max_duration`
(`session_expired`, then close 1001). An unreachable server is a stopped emulator:
after `stop()` its port refuses connections.

Behaviours of the real server a client must cope with (all off by default):

* `defer_response_created`: `response.created` waits for the model's first output,
  so a response cancelled before it (a barge-in right after end of speech) ends
  with a lone `response.done` whose id the client never saw.
* `transcript_after_output`: the input transcript of committed audio arrives only
  after the next response's first audio/text delta.
* `tool_preamble`: before a response's first function call the model speaks this
  (a message item with audio and transcript, or text), then calls in the same
  response.
* `mid_response_error`: an `error` event with this code is sent after a response's
  first output; the response keeps generating and finishes normally.
* `fail_responses`: every response ends at once with `status: "failed"` and
  `status_details.error` carrying this code (`rate_limit_exceeded`,
  `insufficient_quota`, `server_error`), like the real server when limits hit.
* `rate_limits`: where `rate_limits.updated` goes. "auto" = where each dialect's
  traces put it (beta right after `response.created`, GA after `response.done`).

Two function calls in one response come from the brain: the house brain calls one
tool per device in "turn on the kitchen lights and the porch light", and a
`ScriptedBrain` rule can list several calls.

Context window: `context_window_tokens` (the model's; gpt-realtime: 32,000). When
a response's input would outgrow it, or the GA session's `truncation` limit
(`retention_ratio` with `token_limits.post_instructions`), the oldest items are
dropped from the context, as the real server does: "auto" just enough, a
retention ratio down to that share of the limit ("disabled" keeps every item:
the real server refuses the response instead, which is not emulated).

Prompt cache (usage's `cached_tokens`): the input's longest common prefix with an
earlier response's input, by content, counted in whole `cache_block_tokens`
blocks, and only once it reaches `cache_min_tokens` (the real server: 128 and 1024).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from .turns import Brain


@dataclass
class EmulatorOptions:
    """Knobs; tests may change them at any time."""

    # None: any key, including none, is accepted (the develop default). A set: only
    # those keys; a missing or wrong key gets HTTP 401 `invalid_api_key`.
    api_keys: set[str] | None = None
    model_delay: float = 0.0  # seconds before a response's first output
    audio_pacing: Literal["fast", "realtime"] = "fast"
    audio_speed: float = 1.0  # x real time, when audio_pacing is "realtime"
    audio_chunk_ms: int = 100
    transcription_delay: float = 0.0
    session_max_duration: float = 3600.0
    drop_after_events: int | None = None  # abort the TCP connection after N events
    malformed_after_events: int | None = None  # one non-JSON frame after N events
    handshake_status: int | None = None  # e.g. 429 or 500 at the upgrade
    silent_after_handshake: bool = False  # never send session.created
    beta_disabled: bool = False  # answer beta like OpenAI since 2026-05-12
    # Accepted keys without Realtime access (they must pass `api_keys` too).
    keys_without_access: set[str] = field(default_factory=set)
    access_denied_as: Literal["http_403", "model_not_found"] = "http_403"
    # e.g. 404: a server without the browser path (POST /realtime/client_secrets)
    client_secret_status: int | None = None
    vad_threshold_dbfs: float = -60.0  # threshold 0 → this; 1 → 0 dBFS
    received_limit: int = 100_000  # recorded client events per connection
    defer_response_created: bool = False
    transcript_after_output: bool = False
    tool_preamble: str | None = None
    mid_response_error: str | None = None  # an error code, e.g. "server_error"
    fail_responses: str | None = None  # e.g. "insufficient_quota"
    rate_limits: Literal["auto", "after_created", "after_done", "off"] = "auto"
    context_window_tokens: int = 32000
    cache_block_tokens: int = 64
    cache_min_tokens: int = 0


class EmulatorHost(Protocol):
    """What a connection reads from the server that accepted it."""

    @property
    def options(self) -> EmulatorOptions:
        """The knobs (tests change them while connections run)."""

    @property
    def brain(self) -> Brain:
        """The model's brain (tests swap it while connections run)."""
