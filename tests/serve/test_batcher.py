"""The batching queue with a recording stand-in decoder: batch sizes, buckets, ordering, failures."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mathpe_jax.serve.batcher import (
    MIN_BUDGET_BUCKET,
    MIN_PROMPT_BUCKET,
    DecodeQueue,
    QueueFull,
    ShuttingDown,
    bucket,
)


class Recorder:
    """A decoder that answers each prompt with its own ids reversed, and records each call's shape."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False):
        self.calls: list[tuple[int, int, int, int]] = []  # (prompts, budget, rows, prompt_len)
        self.gate = gate
        self.fail = fail

    def __call__(self, prompts, max_new_tokens, rows, prompt_len):
        if self.gate is not None:
            self.gate.wait(30)
        self.calls.append((len(prompts), max_new_tokens, rows, prompt_len))
        if self.fail:
            raise RuntimeError("device lost")
        return [list(reversed(p)) * 4 for p in prompts]


def make_queue(decode, **kwargs) -> DecodeQueue:
    options = {"max_len": 64, "max_batch": 4, "max_wait_s": 0.2, "max_pending": 100} | kwargs
    return DecodeQueue("m", decode, **options)


async def submit_all(queue: DecodeQueue, prompts, budget: int = 5):
    return await asyncio.gather(*(queue.generate(p, budget) for p in prompts), return_exceptions=True)


@pytest.mark.parametrize("n,low,high,expected", [(1, 1, 32, 1), (3, 1, 32, 4), (17, 1, 32, 32), (40, 1, 32, 32),
                                                 (5, 16, 64, 16), (17, 16, 64, 32), (100, 8, 64, 64)])
def test_bucket_is_the_next_power_of_two_within_bounds(n, low, high, expected):
    assert bucket(n, low, high) == expected


def test_requests_that_arrive_together_are_decoded_together_in_padded_buckets():
    decoder = Recorder()
    queue = make_queue(decoder)
    prompts = [list(range(n, 2 * n)) for n in range(1, 11)]  # 10 requests, batches of at most 4
    results = asyncio.run(submit_all(queue, prompts, budget=5))
    queue.close()
    assert [r.ids for r in results] == [(list(reversed(p)) * 4)[:5] for p in prompts]  # its own row, its budget
    assert sorted(r.batch_size for r in results) == [2, 2, 4, 4, 4, 4, 4, 4, 4, 4]
    assert [c[0] for c in decoder.calls] == [4, 4, 2]  # rows padded to a power of two: 2 stays 2
    assert {c[1] for c in decoder.calls} == {MIN_BUDGET_BUCKET}
    assert {c[3] for c in decoder.calls} == {MIN_PROMPT_BUCKET}
    assert queue.shapes == {(4, MIN_PROMPT_BUCKET, MIN_BUDGET_BUCKET), (2, MIN_PROMPT_BUCKET, MIN_BUDGET_BUCKET)}
    assert (queue.requests, queue.batches, queue.largest_batch) == (10, 3, 4)


def test_a_batch_gathers_while_requests_keep_coming():
    decoder = Recorder()
    queue = make_queue(decoder, max_batch=8, max_wait_s=0.3)

    async def trickle():
        futures = []
        for p in range(5):  # 20 ms apart: each within the 300 ms gap of the one before
            futures.append(asyncio.ensure_future(queue.generate([p], 1)))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.6)  # a gap: the batch closes
        futures.append(asyncio.ensure_future(queue.generate([9], 1)))
        return await asyncio.gather(*futures)

    results = asyncio.run(trickle())
    queue.close()
    assert [r.batch_size for r in results] == [5, 5, 5, 5, 5, 1]
    assert [c[0] for c in decoder.calls] == [8, 1]  # 5 rows padded to the bucket of 8


def test_each_request_is_cut_to_its_own_budget():
    queue = make_queue(Recorder())

    async def both():
        return await asyncio.gather(queue.generate([1, 2, 3], 2), queue.generate([4, 5, 6], 7))

    results = asyncio.run(both())
    queue.close()
    assert [r.ids for r in results] == [[3, 2], [6, 5, 4, 6, 5, 4, 6]]


def test_batch_of_one_decodes_one_request_at_a_time():
    decoder = Recorder()
    queue = make_queue(decoder, max_batch=1)
    results = asyncio.run(submit_all(queue, [[1, 2]] * 5))
    queue.close()
    assert [r.batch_size for r in results] == [1] * 5
    assert [c[2] for c in decoder.calls] == [1] * 5


def test_a_failed_batch_fails_its_requests_and_the_queue_goes_on():
    decoder = Recorder(fail=True)
    queue = make_queue(decoder)
    results = asyncio.run(submit_all(queue, [[1], [2]]))
    assert all(isinstance(r, RuntimeError) and "device lost" in str(r) for r in results)
    decoder.fail = False
    (ok,) = asyncio.run(submit_all(queue, [[7, 8]]))
    queue.close()
    assert ok.ids[:2] == [8, 7]


def test_overload_is_refused_instead_of_queued_without_bound():
    gate = threading.Event()
    queue = make_queue(Recorder(gate), max_batch=1, max_pending=2, max_wait_s=0.0)

    async def flood():
        first = asyncio.ensure_future(queue.generate([1], 1))
        await asyncio.sleep(0.2)  # the thread has taken it and waits at the gate
        waiting = [asyncio.ensure_future(queue.generate([2], 1)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="model 'm' has 2 requests waiting"):
            await queue.generate([3], 1)
        gate.set()
        return await asyncio.gather(first, *waiting)

    results = asyncio.run(flood())
    queue.close()
    assert len(results) == 3


def test_a_request_whose_client_left_is_not_decoded():
    gate = threading.Event()
    decoder = Recorder(gate)
    queue = make_queue(decoder, max_batch=1, max_wait_s=0.0)

    async def leave():
        first = asyncio.ensure_future(queue.generate([1], 1))
        await asyncio.sleep(0.2)
        gone = asyncio.ensure_future(queue.generate([2], 1))
        await asyncio.sleep(0)
        gone.cancel()
        gate.set()
        await first

    asyncio.run(leave())
    queue.close()
    assert len(decoder.calls) == 1


@pytest.mark.parametrize("kwargs,message", [({"max_batch": 0}, "max_batch must be >= 1"),
                                            ({"max_wait_s": -1.0}, "max_wait_s must be >= 0")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_queue(Recorder(), **kwargs)


def test_abandon_fails_the_batch_in_hand_and_the_waiting_at_once():
    gate = threading.Event()
    queue = make_queue(Recorder(gate), max_batch=1, max_wait_s=0.0)

    async def abandon():
        in_hand = asyncio.ensure_future(queue.generate([1], 1))
        await asyncio.sleep(0.2)  # the thread decodes it, held at the gate
        waiting = asyncio.ensure_future(queue.generate([2], 1))
        await asyncio.sleep(0)
        queue.abandon()
        answered = await asyncio.wait_for(asyncio.gather(in_hand, waiting, return_exceptions=True), 5)
        with pytest.raises(ShuttingDown, match="model 'm' is shutting down"):
            await queue.generate([3], 1)
        return answered

    answered = asyncio.run(abandon())
    queue.close()  # abandoned: returns while the gate still holds the decoding
    gate.set()
    assert all(isinstance(a, ShuttingDown) for a in answered), answered
    assert queue.pending == 0


def test_close_decodes_what_is_queued_and_then_refuses():
    queue = make_queue(Recorder(), max_wait_s=0.0)

    async def queued():
        return await asyncio.gather(*(queue.generate([i], 1) for i in range(3)))

    assert [r.ids for r in asyncio.run(queued())] == [[0], [1], [2]]
    queue.close()
    with pytest.raises(ShuttingDown):
        asyncio.run(queue.generate([4], 1))
