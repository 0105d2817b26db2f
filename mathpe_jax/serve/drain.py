"""Going down without dropping a request: from ``begin`` on, every new request gets 503; what is
already queued is decoded; ``abandon`` (the grace period is over) answers what is left with 503.

A 503 says ``Retry-After`` and ``Connection: close``, so a client knows its request did not run
and may send it again, to this server once restarted or to another; a request is never cut off
without an answer. ``server.GracefulServer`` decides when to begin and when to abandon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mathpe_jax.serve.errors import error_response
from mathpe_jax.serve.models import ServedModel

__all__ = ["RETRY_AFTER_S", "Drain", "RefuseWhileDraining", "unavailable"]

# What a refused client is told to wait: about what a restart of the server takes.
RETRY_AFTER_S = 30
# How long a refused request's body is read before the 503 (a client trickling it cannot hold the stop).
READ_BODY_S = 1.0


def unavailable(message: str) -> JSONResponse:
    """A 503 refusal: the request was not run."""
    return error_response(503, message, None, {"Retry-After": str(RETRY_AFTER_S), "Connection": "close"})


class Drain:
    """Whether the server is shutting down, and the queues of ``models`` to abandon at the end."""

    def __init__(self, models: Sequence[ServedModel]):
        self.models = list(models)
        self.draining = False

    def begin(self) -> None:
        """From now on, new requests get 503; queued ones are still decoded."""
        self.draining = True

    def abandon(self) -> None:
        """Answers every request not yet answered with 503, without waiting for its decoding."""
        self.draining = True
        for model in self.models:
            if model.queue is not None:
                model.queue.abandon()


class RefuseWhileDraining:
    """ASGI middleware: while ``drain.draining``, every new request gets 503 before it runs."""

    def __init__(self, app: ASGIApp, drain: Drain):
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.drain.draining:
            if await _read_body(receive):
                await unavailable("the server is shutting down; send the request again later")(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bool:
    """Reads the request's body (for at most ``READ_BODY_S``): a socket closed with bytes unread is
    reset, and the client would never see its 503. False when the client has gone."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(READ_BODY_S):
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return False
                more = message.get("more_body", False)
    return True
