"""A batching queue per model: requests that arrive together are decoded together.

Each model has one decoding thread. It takes the oldest waiting request, then gathers more while
they keep coming: until ``max_batch`` requests are in hand, or none has arrived for ``max_wait_s``,
or ``MAX_WAIT_ROUNDS * max_wait_s`` have passed since the first; then it decodes them as one
left-padded batch (``decode.greedy_generate_split``). The gap rule, not a deadline from the first
request, is what lets a burst that reaches the server over a few hundred milliseconds (each
request parsed in turn while other models decode) form one batch instead of a small batch that
holds the thread for its whole decoding while the rest of the burst waits. While a batch decodes, new requests wait and
form the next one, so under load batches fill up and throughput grows with the load instead of
requests queueing one by one. The event loop never decodes: it only hands requests to the thread
and awaits their futures, so a slow model never blocks another model or the other routes.

Stopping: ``close`` decodes what is queued, then stops the thread; ``abandon`` (a shutdown whose
grace period is over) fails every unanswered request at once with ``ShuttingDown``, the batch being
decoded included, without waiting for its decoding. A closed queue refuses new requests with
``ShuttingDown`` too; the API answers it with 503.

Compiled shapes: a batch is padded to a bucket (rows, prompt length and budget each rounded up to
a power of two, capped by ``max_batch`` and the model's positions), so a server compiles a handful
of shapes over its life, not one per request length. ``shapes`` lists the buckets decoded so far.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["DecodeQueue", "Decoded", "QueueFull", "ShuttingDown", "bucket"]

log = logging.getLogger(__name__)

# A batch gathers for at most this many ``max_wait_s`` in all, however steadily requests arrive.
MAX_WAIT_ROUNDS = 10
# Smallest prompt and budget buckets: below these, a bucket of its own would only add compilations.
MIN_PROMPT_BUCKET = 16
MIN_BUDGET_BUCKET = 8

#: ``decode(prompts, max_new_tokens, batch_size, prompt_len)`` -> completion ids per prompt.
DecodeFn = Callable[[Sequence[Sequence[int]], int, int, int], list[list[int]]]


class QueueFull(RuntimeError):
    """More requests are waiting for a model than the server accepts (``max_pending``)."""


class ShuttingDown(RuntimeError):
    """The queue is closed: the request was not, or will not be, decoded."""


def bucket(n: int, low: int, high: int) -> int:
    """The power of two at least ``max(n, low)``, capped at ``high``."""
    size = low
    while size < n:
        size *= 2
    return min(size, high)


@dataclasses.dataclass(frozen=True)
class Decoded:
    """One request's completion ids, with how many requests shared its batch and how long it waited."""

    ids: list[int]
    batch_size: int
    queue_ms: float


@dataclasses.dataclass
class _Request:
    prompt: list[int]
    max_new_tokens: int
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    arrived: float


_STOP = object()


class DecodeQueue:
    """Requests for one model, decoded in batches by one thread (see the module docstring).

    ``decode`` runs a batch; ``max_len`` is the model's position count, which caps the prompt and
    budget buckets. ``max_pending`` bounds the requests waiting, so overload is refused
    (``QueueFull``) instead of growing without bound.
    """

    def __init__(self, name: str, decode: DecodeFn, *, max_len: int, max_batch: int, max_wait_s: float, max_pending: int):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.name = name
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_pending = max_pending
        self._decode = decode
        self._max_len = max_len
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._closed = False
        self._abandoned = False
        self._in_hand: list[_Request] = []  # the batch being decoded
        self._lock = threading.Lock()
        self.requests = 0
        self.batches = 0
        self.largest_batch = 0
        self.shapes: set[tuple[int, int, int]] = set()  # (rows, prompt_len, budget) decoded so far
        self._thread = threading.Thread(target=self._run, name=f"decode-{name}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    async def generate(self, prompt: list[int], max_new_tokens: int) -> Decoded:
        """The greedy completion ids of ``prompt`` (at most ``max_new_tokens``, cut after EOS)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:  # the put too: a request is queued before a close, or refused after it
            if self._closed:
                raise ShuttingDown(f"model {self.name!r} is shutting down")
            if self._pending >= self.max_pending:
                raise QueueFull(f"model {self.name!r} has {self._pending} requests waiting; retry later")
            self._pending += 1
            self._queue.put(_Request(list(prompt), max_new_tokens, future, loop, time.perf_counter()))
        return await future

    def close(self) -> None:
        """Decodes the requests queued so far, then stops the thread (at once when abandoned)."""
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)
        if not self._abandoned:
            self._thread.join()

    def abandon(self) -> None:
        """Fails every unanswered request now, the batch being decoded included, and closes the
        queue; the thread stops once that batch's decoding returns (a daemon: it holds no exit)."""
        with self._lock:
            self._closed = self._abandoned = True
            in_hand, self._in_hand = self._in_hand, []
            self._queue.put(_STOP)
        for request in in_hand:
            _resolve(request, error=ShuttingDown(f"model {self.name!r} is shutting down"))
        self._fail_waiting()

    # -- the decoding thread -----------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            deadline = time.perf_counter() + MAX_WAIT_ROUNDS * self.max_wait_s
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, min(self.max_wait_s, deadline - time.perf_counter())))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._decode_batch(batch)
        self._fail_waiting()

    def _decode_batch(self, batch: list[_Request]) -> None:
        live = [r for r in batch if not r.future.cancelled()]  # the client has gone away
        with self._lock:
            self._pending -= len(batch)
            abandoned = self._abandoned
            if not abandoned:
                self._in_hand = live
        if abandoned:
            for request in live:
                _resolve(request, error=ShuttingDown(f"model {self.name!r} is shutting down"))
            return
        if not live:
            return
        started = time.perf_counter()
        rows = bucket(len(live), 1, self.max_batch)
        prompt_len = bucket(max(len(r.prompt) for r in live), MIN_PROMPT_BUCKET, self._max_len)
        budget = bucket(max(r.max_new_tokens for r in live), MIN_BUDGET_BUCKET, self._max_len)
        prompts = [r.prompt for r in live]
        prompts += [prompts[-1]] * (rows - len(live))  # filler rows keep the compiled shape
        try:
            completions = self._decode(prompts, budget, rows, prompt_len)
        except Exception as err:  # a failed batch fails its requests, not the server
            log.exception("decoding a batch of %d for model %s failed", len(live), self.name)
            for request in live:
                _resolve(request, error=err)
            return
        finally:
            with self._lock:
                self._in_hand = []
        self.shapes.add((rows, prompt_len, budget))
        self.requests += len(live)
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(live))
        for request, ids in zip(live, completions):
            queued_ms = (started - request.arrived) * 1e3
            _resolve(request, Decoded(ids[: request.max_new_tokens], len(live), queued_ms))

    def _fail_waiting(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                with self._lock:
                    self._pending -= 1
                _resolve(item, error=ShuttingDown(f"model {self.name!r} is shutting down"))


def _resolve(request: _Request, result: Decoded | None = None, error: BaseException | None = None) -> None:
    """Sets the request's future from the decoding thread, unless the client has gone."""

    def settle() -> None:
        if request.future.done():
            return
        if error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result(result)

    try:
        request.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the event loop has closed: nobody is waiting any more
        pass
