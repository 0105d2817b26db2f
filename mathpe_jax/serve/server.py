"""uvicorn's server with a graceful stop: SIGTERM or Ctrl+C answers every request it has received,
with a result or a 503, and exits with status 0.

uvicorn on its own closes the listening socket at once, which resets every connection the kernel
has accepted but the server has not (a burst of a few thousand requests loses most of them), and
closes connections whose request it has not read yet. Here, on the first signal:

1. ``drain.begin()``: from now on every new request gets 503 (``drain``);
2. connections the kernel already holds are accepted (and answered 503), then the server stops
   listening: a client that connects later is refused, and knows nothing was sent;
3. requests in progress run to their end, queued decoding included, and requests still arriving
   on open connections get their 503, until none has come for ``QUIET_S`` or ``grace_s`` is over;
4. then ``drain.abandon()`` answers what is left with 503, and the server shuts down as uvicorn
   does. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import select
import signal
import socket
import sys
from types import FrameType

import uvicorn

from mathpe_jax.serve.drain import Drain

__all__ = ["GracefulServer"]

# Steps 2 and 3 end when the listening socket, or the requests, have been quiet this long: long
# enough for clients with connections open to send what they are sending (each gets its 503),
# short next to any grace period. A connection silent for this long is closed at the exit.
QUIET_S = 0.5
POLL_S = 0.02
# After ``abandon``, how long the 503s it sends have to be written; then uvicorn's own stop cancels
# what still runs (an attention map in progress), so the process ends soon after the grace period.
ABANDON_S = 2.0


class GracefulServer(uvicorn.Server):
    """``uvicorn.Server`` for an app of ``create_app`` (its ``drain``), stopped as the module says."""

    def __init__(self, config: uvicorn.Config, drain: Drain, grace_s: float):
        if config.timeout_graceful_shutdown is None:  # what a task still runs after step 4 is cut
            config.timeout_graceful_shutdown = ABANDON_S
        super().__init__(config)
        self.drain = drain
        self.grace_s = grace_s
        self.loop: asyncio.AbstractEventLoop | None = None  # set once serving
        self._stop_requested = False
        self._stop_task: asyncio.Task | None = None
        self._answered = 0  # requests answered at the last look (``_serving``)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Starts the graceful stop (callable from any thread); a second signal stops now, and a
        signal before the server serves stops it as uvicorn would."""
        if self._stop_requested:  # cut short: the exit status says by which signal
            self._captured_signals.append(sig)
            self.force_exit = self.should_exit = True
            return
        if self.loop is None or not self.started:
            self.should_exit = True
            return
        self._stop_requested = True
        self.loop.call_soon_threadsafe(self._begin_stop, sig)

    def _begin_stop(self, sig: int) -> None:
        self._stop_task = self.loop.create_task(self._stop())
        print(f"stopping on {signal.Signals(sig).name}: new requests get 503; queued ones are answered within "
              f"{self.grace_s:g}s (signal again to stop now)", file=sys.stderr, flush=True)

    async def _stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_s
        self.drain.begin()
        await self._until_quiet(self._connecting, deadline)
        for server in self.servers:
            server.close()
        await self._until_quiet(self._serving, deadline)
        if self.server_state.tasks:
            self.drain.abandon()
            await self._until_quiet(self._serving, loop.time() + ABANDON_S)
        self.should_exit = True

    def _connecting(self) -> bool:
        """Whether the kernel holds connections not accepted yet (a listening socket is readable)."""
        listeners = [sock for server in self.servers for sock in (server.sockets or ())]
        return bool(select.select(listeners, [], [], 0)[0])

    def _serving(self) -> bool:
        """Whether a request is running, or one has been answered since the last look."""
        answered, self._answered = self._answered, self.server_state.total_requests
        return bool(self.server_state.tasks) or answered != self._answered

    @staticmethod
    async def _until_quiet(busy, deadline: float) -> None:
        """Waits until ``busy()`` has been false for ``QUIET_S``, or until ``deadline``."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while loop.time() < deadline:
            if busy():
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= QUIET_S:
                return
            await asyncio.sleep(POLL_S)
