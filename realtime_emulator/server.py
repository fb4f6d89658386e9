"""A local Realtime API server: aiohttp websocket, GA and beta dialects.

`RealtimeEmulator` serves `/v1/realtime` (OpenAI), `/openai/v1/realtime` and
`/openai/realtime` (Azure GA and preview), `/v1/models` and `/health`. It checks
the key, picks the dialect and model from the handshake, and hands each websocket
to an `EmulatorConnection` (connection.py), passing itself only as the
`EmulatorHost` the connection reads its knobs and brain from. Knobs live in
`EmulatorOptions` (options.py).

Keys: with no key list (`api_keys=None`, the develop default) any key is accepted,
an empty one too, as the compatible-server form promises; with a key list a missing
or wrong key gets HTTP 401 `invalid_api_key`, the real server's answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from .connection import EmulatorConnection
from .house_brain import HouseBrain
from .options import EmulatorOptions
from .session_config import MODELS, Dialect

if TYPE_CHECKING:
    from .turns import Brain

__all__ = ["EmulatorOptions", "RealtimeEmulator"]

_LOGGER = logging.getLogger(__name__)


def _error_body(
    message: str, code: str | None, error_type: str = "invalid_request_error"
) -> str:
    return json.dumps(
        {"error": {"message": message, "type": error_type, "code": code, "param": None}}
    )


class RealtimeEmulator:
    """The emulator; run it in the same event loop as the code under test."""

    def __init__(
        self, options: EmulatorOptions | None = None, brain: Brain | None = None
    ) -> None:
        """Configure; `start()` binds the port."""
        self.options = options or EmulatorOptions()
        self.brain: Brain = brain or HouseBrain()
        # One connection per websocket ever accepted, in order (closed ones stay).
        self.sessions: list[EmulatorConnection] = []
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._new_session = asyncio.Condition()

    @property
    def url(self) -> str:
        """http://host:port."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (…/v1)."""
        return f"{self.url}/v1"

    @property
    def received(self) -> list[dict[str, object]]:
        """Every client event of every session, in session order."""
        return [event for session in self.sessions for event in session.received]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0 = any free port)."""
        app = web.Application()
        app.router.add_get("/v1/realtime", self._realtime)
        app.router.add_get("/openai/v1/realtime", self._realtime)
        app.router.add_get("/openai/realtime", self._realtime)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server  # noqa: SLF001 - the bound port is only there
        sockets = getattr(server, "sockets", None) or []
        self.host, self.port = host, int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every session and the listener; leaves no task behind."""
        await asyncio.gather(
            *(s.close(1001, "server shutting down") for s in self.sessions)
        )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for_session(
        self, n: int = 1, timeout: float = 5.0
    ) -> EmulatorConnection:
        """Wait until at least `n` connections exist; return the n-th."""
        async with asyncio.timeout(timeout), self._new_session:
            await self._new_session.wait_for(lambda: len(self.sessions) >= n)
        return self.sessions[n - 1]

    def _key(self, request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if key := request.headers.get("api-key"):
            return key
        for raw in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
            proto = raw.strip()
            if proto.startswith("openai-insecure-api-key."):
                return proto.removeprefix("openai-insecure-api-key.")
        return request.query.get("api-key", "")

    def _authorised(self, request: web.Request) -> web.Response | None:
        key = self._key(request)
        keys = self.options.api_keys
        if keys is not None and key not in keys:
            shown = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            return web.Response(
                status=401,
                content_type="application/json",
                text=_error_body(
                    f"Incorrect API key provided: {shown}. You can find your API key "
                    "at https://platform.openai.com/account/api-keys.",
                    "invalid_api_key",
                ),
            )
        return None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "sessions": len(self.sessions)})

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": 1756339200,
                        "owned_by": "system",
                    }
                    for m in MODELS
                ],
            }
        )

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        if (status := self.options.handshake_status) is not None:
            code = "rate_limit_exceeded" if status == 429 else "server_error"
            return web.Response(
                status=status,
                content_type="application/json",
                text=_error_body(f"Emulated HTTP {status}", code),
            )
        if (denied := self._authorised(request)) is not None:
            return denied
        no_access = self._key(request) in self.options.keys_without_access
        if no_access and self.options.access_denied_as == "http_403":
            return web.Response(
                status=403,
                content_type="application/json",
                text=_error_body(
                    "You have insufficient permissions for this operation. Missing "
                    "scopes: api.model.request. Check that you have the correct role "
                    "in your organization, and that the key's project may use this "
                    "model.",
                    None,
                ),
            )
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        beta = (
            request.headers.get("OpenAI-Beta", "") == "realtime=v1"
            or "openai-beta.realtime-v1" in protocols
            or (request.path == "/openai/realtime" and "api-version" in request.query)
        )
        dialect: Dialect = "beta" if beta else "ga"
        model = (
            request.query.get("model")
            or request.query.get("deployment")
            or "gpt-realtime"
        )
        ws = web.WebSocketResponse(
            protocols=("realtime",), max_msg_size=0, heartbeat=None, autoping=True
        )
        await ws.prepare(request)
        session = EmulatorConnection(self, ws, request, dialect, model)
        self.sessions.append(session)
        async with self._new_session:
            self._new_session.notify_all()
        if beta and self.options.beta_disabled:
            await session.send(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "beta_api_shape_disabled",
                        "message": "The Realtime Beta API is no longer supported. "
                        "Please use /v1/realtime for the GA API.",
                        "param": None,
                        "event_id": None,
                    },
                }
            )
            await session.close(4000, "beta_api_shape_disabled")
            return ws
        if no_access:  # access_denied_as == "model_not_found"
            await session.send(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                        "message": f"The model `{model}` does not exist or you do "
                        "not have access to it.",
                        "param": None,
                        "event_id": None,
                    },
                }
            )
            await session.close(1008, "model_not_found")
            return ws
        await session.run()
        return ws
