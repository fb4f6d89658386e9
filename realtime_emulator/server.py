"""A local Realtime API server: aiohttp websocket, GA and beta dialects, and WebRTC.

`RealtimeEmulator` serves `/v1/realtime` (OpenAI), `/openai/v1/realtime` and
`/openai/realtime` (Azure GA and preview), `/v1/models` and `/health`, and the GA
browser path (webrtc.py): `/v1/realtime/client_secrets` and `/v1/realtime/calls`
(and their Azure `/openai/v1/...` twins), with CORS as a browser needs. It checks
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
import time
from typing import TYPE_CHECKING

from aiohttp import web

from . import validate_ga
from .client_secrets import ClientSecrets, error_text
from .connection import EmulatorConnection
from .errors import ProtocolError
from .house_brain import HouseBrain
from .options import EmulatorOptions
from .session_config import MODELS, Dialect
from .webrtc import WebRTCCall, restrict_ice

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .turns import Brain

__all__ = ["EmulatorOptions", "RealtimeEmulator"]

_LOGGER = logging.getLogger(__name__)


_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, api-key",
    "Access-Control-Expose-Headers": "Location",
    "Access-Control-Max-Age": "600",
}


@web.middleware
async def _cors(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Browsers call the REST routes from another origin (a Home Assistant page)."""
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=_CORS)
    response = await handler(request)
    if not isinstance(response, web.WebSocketResponse):
        response.headers.update(_CORS)
    return response


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
        # One connection per websocket or WebRTC call ever accepted, in order
        # (closed ones stay).
        self.sessions: list[EmulatorConnection] = []
        self.calls: dict[str, WebRTCCall] = {}
        # Seconds added to the wall clock for client secrets' expiry (tests).
        self.clock_offset = 0.0
        self.webrtc = False  # whether aiortc is installed (calls are possible)
        self.secrets = ClientSecrets(self.now)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self._new_session = asyncio.Condition()

    def now(self) -> float:
        """The server's wall clock (client secrets expire by it)."""
        return time.time() + self.clock_offset

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
        app = web.Application(middlewares=[_cors])
        app.router.add_get("/v1/realtime", self._realtime)
        app.router.add_get("/openai/v1/realtime", self._realtime)
        app.router.add_get("/openai/realtime", self._realtime)
        for prefix in ("/v1", "/openai/v1"):
            app.router.add_post(f"{prefix}/realtime/client_secrets", self._secret)
            app.router.add_post(f"{prefix}/realtime/calls", self._call)
            app.router.add_post(
                f"{prefix}/realtime/calls/{{call_id}}/hangup", self._hangup
            )
            app.router.add_route("OPTIONS", f"{prefix}/realtime/{{tail:.*}}", self._ok)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server  # noqa: SLF001 - the bound port is only there
        sockets = getattr(server, "sockets", None) or []
        self.host, self.port = host, int(sockets[0].getsockname()[1])
        self.webrtc = restrict_ice(host)

    async def stop(self) -> None:
        """Close every call, session and the listener; leaves no task behind."""
        await asyncio.gather(*(call.closed() for call in self.calls.values()))
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

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _secret(self, request: web.Request) -> web.Response:
        """`POST /v1/realtime/client_secrets`: an ephemeral key for a session."""
        if (denied := self._authorised(request)) is not None:
            return denied
        if (status := self.options.client_secret_status) is not None:
            return web.Response(
                status=status,
                content_type="application/json",
                text=_error_body(f"Emulated HTTP {status}", "not_found"),
            )
        try:
            body = await request.json()
        except ValueError:
            body = None
        try:
            minted = self.secrets.mint(body)
        except ProtocolError as err:
            return web.Response(
                status=400, content_type="application/json", text=error_text(err)
            )
        return web.json_response(minted)

    async def _call(self, request: web.Request) -> web.Response:
        """`POST /v1/realtime/calls`: SDP offer in, SDP answer out (201)."""
        if not self.webrtc:
            return web.Response(
                status=501,
                content_type="application/json",
                text=_error_body(
                    "WebRTC calls need aiortc (pip install -r requirements_test.txt).",
                    "not_implemented",
                ),
            )
        key = self._key(request)
        secret = self.secrets.find(key)
        if secret is None:
            expired = self.secrets.is_ephemeral(key)
            return web.Response(
                status=401,
                content_type="application/json",
                text=_error_body(
                    "The ephemeral key has expired."
                    if expired
                    else "A call needs an ephemeral key from "
                    "/v1/realtime/client_secrets.",
                    "invalid_api_key",
                ),
            )
        if request.content_type != "application/sdp":
            return web.Response(
                status=400,
                content_type="application/json",
                text=_error_body(
                    "Send the SDP offer as the body, Content-Type: application/sdp.",
                    "invalid_request",
                ),
            )
        offer = await request.text()
        call = WebRTCCall(
            lambda call: EmulatorConnection(
                self, call.socket, call.hang_up, "ga", secret.model, played=call
            )
        )
        connection = call.connection
        connection.config = validate_ga.session_update(
            secret.session, connection.config, False, secret.model
        )
        try:
            answer = await call.answer(offer)
        except ValueError as err:
            await call.closed()
            return web.Response(
                status=400,
                content_type="application/json",
                text=_error_body(f"Invalid SDP offer: {err}", "invalid_offer"),
            )
        self.calls[call.id] = call
        self.sessions.append(connection)
        async with self._new_session:
            self._new_session.notify_all()
        call.start()
        return web.Response(
            status=201,
            content_type="application/sdp",
            text=answer,
            headers={"Location": f"/v1/realtime/calls/{call.id}"},
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        """`POST /v1/realtime/calls/{call_id}/hangup`."""
        key = self._key(request)
        if self.secrets.find(key) is None and self._authorised(request) is not None:
            return web.Response(status=401)
        call = self.calls.get(request.match_info["call_id"])
        if call is None:
            return web.Response(
                status=404,
                content_type="application/json",
                text=_error_body("Call not found.", "not_found"),
            )
        await call.closed()
        return web.Response(status=200)

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

        def abort() -> None:
            if (transport := request.transport) is not None:
                transport.abort()

        session = EmulatorConnection(self, ws, abort, dialect, model)
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
