"""Warm helpers under a CPU budget: overruns are stopped, helpers recover, any caller works."""

from __future__ import annotations

import math
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest

from mathpe_jax.grading import timeout
from mathpe_jax.grading.timeout import (
    HARD_STOP_GRACE_S,
    HelperDied,
    HelperPool,
    HelperStartError,
    TimedOut,
)


def burn_cpu(seconds: float) -> int:
    """Spin in Python for ``seconds`` of this process's CPU time."""
    end, n = time.process_time() + seconds, 0
    while time.process_time() < end:
        n += 1
    return n


def slow_warm_up() -> None:
    time.sleep(2.0)


def failing_warm_up() -> None:
    raise ImportError("no module named 'sympy_missing'")


@pytest.fixture(scope="module")
def pool() -> HelperPool:
    helpers = HelperPool(size=2)
    yield helpers
    helpers.shutdown()


def test_returns_result(pool: HelperPool) -> None:
    assert pool.run(math.factorial, 10, budget_s=5) == 3628800
    assert pool.run(divmod, 17, 5, budget_s=5) == (3, 2)
    assert pool.run(int, "ff", base=16, budget_s=5) == 255


def test_exception_is_reraised_and_helper_survives(pool: HelperPool) -> None:
    with pytest.raises(ValueError, match="negative"):
        pool.run(math.factorial, -1, budget_s=5)
    assert pool.run(math.factorial, 4, budget_s=5) == 24


def test_cpu_budget_stops_python_work_and_keeps_the_helper(monkeypatch) -> None:
    # A wide wall-clock grace, so that on a loaded machine the hard stop cannot come before the
    # helper has spent its 0.5 s of CPU: this test is about the helper's own timer.
    monkeypatch.setattr(timeout, "HARD_STOP_GRACE_S", 60.0)
    single = HelperPool(size=1)
    try:
        pid = single.run(os.getpid, budget_s=5)
        with pytest.raises(TimedOut, match="CPU budget"):
            single.run(burn_cpu, 30.0, budget_s=0.5)
        assert single.run(os.getpid, budget_s=5) == pid  # stopped by its own timer, not killed
    finally:
        single.shutdown()


def test_work_a_signal_cannot_interrupt_is_killed_after_the_grace() -> None:
    single = HelperPool(size=1)
    try:
        pid = single.run(os.getpid, budget_s=5)
        with pytest.raises(TimedOut, match="wall time"):
            single.run(time.sleep, 30, budget_s=0.5)  # sleeping uses no CPU: only the hard stop ends it
        assert single.run(os.getpid, budget_s=5) != pid  # replaced
    finally:
        single.shutdown()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_helper_starved_of_its_core_is_not_hard_stopped() -> None:
    """Eight CPU-bound processes share the helper's one core: its call takes several times budget plus
    grace in wall time, yet stays within its CPU budget, so it ends with its result. The hard stop
    counts wall time less the helper's waits for a core; plain wall time killed it here."""
    single = HelperPool(size=1)
    core = {min(os.sched_getaffinity(0))}
    hogs = []
    try:
        os.sched_setaffinity(single.run(os.getpid, budget_s=5), core)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(8)]
        for hog in hogs:
            os.sched_setaffinity(hog.pid, core)
        started = time.monotonic()
        assert single.run(burn_cpu, 0.5, budget_s=1.0) > 0
        assert time.monotonic() - started > 1.0 + HARD_STOP_GRACE_S  # the starvation this test is about
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        single.shutdown()


def test_waiting_for_start_up_and_warm_up_is_not_budgeted() -> None:
    warm = HelperPool(size=1, warm_up=slow_warm_up)
    try:
        assert warm.run(math.factorial, 5, budget_s=0.2) == 120
    finally:
        warm.shutdown()


def test_failed_warm_up_is_a_clear_error() -> None:
    broken = HelperPool(size=1, warm_up=failing_warm_up)
    try:
        with pytest.raises(HelperStartError, match="sympy_missing"):
            broken.run(math.factorial, 5, budget_s=5)
        with pytest.raises(HelperStartError):  # every later caller learns it too
            broken.run(math.factorial, 5, budget_s=5)
    finally:
        broken.shutdown()


def test_crashed_helper_is_reported_and_replaced(pool: HelperPool) -> None:
    with pytest.raises(HelperDied):
        pool.run(os._exit, 3, budget_s=5)
    assert pool.run(math.factorial, 3, budget_s=5) == 6


def test_unpicklable_result_is_an_error_not_a_hang(pool: HelperPool) -> None:
    with pytest.raises(RuntimeError, match="unpicklable"):
        pool.run(threading.Lock, budget_s=5)
    assert pool.run(math.factorial, 3, budget_s=5) == 6


@pytest.mark.parametrize("budget", [0, -1.0, float("nan")])
def test_rejects_a_budget_that_is_not_positive(pool: HelperPool, budget: float) -> None:
    with pytest.raises(ValueError, match="budget_s"):
        pool.run(math.factorial, 3, budget_s=budget)


def test_rejects_an_empty_pool() -> None:
    with pytest.raises(ValueError, match="size"):
        HelperPool(size=-1)


def test_calls_reuse_the_same_helpers(pool: HelperPool) -> None:
    pids = {pool.run(os.getpid, budget_s=5) for _ in range(200)}
    assert 1 <= len(pids) <= pool.size


def test_concurrent_threads_with_a_timeout_among_them(pool: HelperPool) -> None:
    results: dict[int, object] = {}

    def work(i: int) -> None:
        if i == 0:
            try:
                pool.run(burn_cpu, 30.0, budget_s=0.5)
            except TimedOut:
                results[i] = "timed out"
        else:
            results[i] = [pool.run(math.factorial, i, budget_s=5) for _ in range(20)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results[0] == "timed out"
    assert all(results[i] == [math.factorial(i)] * 20 for i in range(1, 6))


def _factorial_in_a_new_pool(n: int) -> int:
    helpers = HelperPool(size=1)
    try:
        return helpers.run(math.factorial, n, budget_s=5)
    finally:
        helpers.shutdown()


def _timed_out_in_a_new_pool() -> bool:
    helpers = HelperPool(size=1)
    try:
        helpers.run(burn_cpu, 30.0, budget_s=0.5)
    except TimedOut:
        return True
    finally:
        helpers.shutdown()
    return False


def test_works_inside_a_daemonic_pool_worker() -> None:
    # multiprocessing refuses to start processes from daemonic pool workers;
    # helpers are plain subprocesses, so the budget still applies there.
    with multiprocessing.get_context("spawn").Pool(1) as workers:
        assert workers.apply(_factorial_in_a_new_pool, (6,)) == 720
        assert workers.apply(_timed_out_in_a_new_pool) is True


_SHARED = HelperPool(size=1)


def _shared_helper_pid() -> int:
    return _SHARED.run(os.getpid, budget_s=5)


def test_a_forked_child_starts_its_own_helpers() -> None:
    parent_helper = _shared_helper_pid()
    with multiprocessing.get_context("fork").Pool(1) as workers:
        child_helper = workers.apply(_shared_helper_pid)
    assert child_helper != parent_helper
    assert _shared_helper_pid() == parent_helper  # the parent's helper is untouched
