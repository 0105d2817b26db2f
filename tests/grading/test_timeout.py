"""Hard timeouts: overruns are cut off, the helper recovers, any caller works."""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time

import pytest

from mathpe_jax.grading.timeout import run_with_timeout


def test_returns_result() -> None:
    assert run_with_timeout(math.factorial, 10) == 3628800
    assert run_with_timeout(divmod, 17, 5) == (3, 2)
    assert run_with_timeout(int, "ff", base=16) == 255


def test_timeout_returns_default_and_recovers() -> None:
    run_with_timeout(math.factorial, 1)  # start the helper outside the timed call
    start = time.monotonic()
    assert run_with_timeout(time.sleep, 30, timeout_s=0.5, default="late") == "late"
    assert time.monotonic() - start < 1.5
    assert run_with_timeout(math.factorial, 5) == 120


def test_exception_is_reraised_and_helper_survives() -> None:
    with pytest.raises(ValueError, match="negative"):
        run_with_timeout(math.factorial, -1)
    assert run_with_timeout(math.factorial, 4) == 24


def test_crashed_helper_gives_default_and_is_replaced() -> None:
    assert run_with_timeout(os._exit, 3, default="crashed") == "crashed"
    assert run_with_timeout(math.factorial, 3) == 6


def test_unpicklable_result_is_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match="unpicklable"):
        run_with_timeout(threading.Lock)
    assert run_with_timeout(math.factorial, 3) == 6


def test_rejects_non_positive_timeout() -> None:
    with pytest.raises(ValueError):
        run_with_timeout(math.factorial, 3, timeout_s=0)


def test_many_calls_reuse_the_helper() -> None:
    run_with_timeout(math.factorial, 1)
    start = time.monotonic()
    results = [run_with_timeout(math.factorial, n % 20) for n in range(500)]
    assert results[7] == 5040
    assert time.monotonic() - start < 5.0  # a process per call would take minutes


def test_concurrent_threads_with_a_timeout_among_them() -> None:
    results: dict[int, object] = {}

    def work(i: int) -> None:
        if i == 0:
            results[i] = run_with_timeout(time.sleep, 30, timeout_s=1.0, default="late")
        else:
            results[i] = [run_with_timeout(math.factorial, i) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results[0] == "late"
    assert all(results[i] == [math.factorial(i)] * 20 for i in range(1, 4))


def test_works_inside_a_daemonic_pool_worker() -> None:
    # multiprocessing refuses to start processes from daemonic pool workers;
    # the helper is a plain subprocess, so the timeout still applies there.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(run_with_timeout, (math.factorial, 6)) == 720
        assert pool.apply(run_with_timeout, (time.sleep, 30), {"timeout_s": 0.5, "default": "late"}) == "late"
