"""Warm helper processes that run untrusted, possibly runaway computations under a budget.

Symbolic grading can hang on adversarial model output (``9^9^9^9``, deeply nested brackets, huge
strings), so each comparison runs in a helper process that can be stopped. Two rules keep a
verdict independent of how busy the machine is:

* **Only the call is budgeted.** Helpers are started once, import their modules and run a warm-up
  call (the first parse loads a grammar) before they are handed out; waiting for a free helper, its
  start-up and its imports never count against a call. A helper that had to be killed is replaced
  in the background.
* **The budget is the helper's CPU time**, not wall-clock time: under load a call gets less of a
  core, but uses the same CPU seconds. The helper arms ``ITIMER_PROF`` (process CPU time) for each
  call, and the signal stops Python-level work cleanly, keeping the helper. Work that a signal
  cannot interrupt (one long C loop, such as a huge integer power) is stopped from outside: the
  caller kills the helper once the call's wall time exceeds ``budget + HARD_STOP_GRACE_S``, not
  counting the time the helper spent runnable but waiting for a core (Linux's
  ``/proc/PID/schedstat``), so that a starved helper is not mistaken for a stuck one. Either way
  the caller gets ``TimedOut``, never a silent answer.

Helpers are plain ``subprocess.Popen`` children rather than ``multiprocessing`` processes, which
refuse to start from daemonic processes (``multiprocessing.Pool`` workers); a pool can be used from
any thread, and a forked child starts its own helpers instead of sharing its parent's pipes.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

__all__ = [
    "HARD_STOP_GRACE_S",
    "CallAborted",
    "HelperDied",
    "HelperPool",
    "HelperStartError",
    "TimedOut",
    "default_pool_size",
]

T = TypeVar("T")

#: How long past its CPU budget a call may run in wall-clock time (less its helper's waits for a core)
#: before its helper is killed.
HARD_STOP_GRACE_S = 1.0
# Start-up (interpreter, imports, warm-up) on a loaded machine can take many seconds; it is never
# part of a budget, but a helper that is not ready after this long is broken.
_START_TIMEOUT_S = 300.0

_BOOTSTRAP = "import sys; from mathpe_jax.grading.timeout import _serve; _serve(int(sys.argv[1]), int(sys.argv[2]))"


class CallAborted(Exception):
    """A call gave no result: it ran past its budget, or its helper died."""


class TimedOut(CallAborted):
    """The call used up its budget (CPU seconds, or wall seconds past the grace) and was stopped."""


class HelperDied(CallAborted):
    """The helper exited while running the call (a crash, or the kernel's out-of-memory killer)."""


class HelperStartError(RuntimeError):
    """A helper process could not start: its interpreter, imports or warm-up failed."""


class _Budget(BaseException):
    """Raised inside a helper when a call's CPU budget is spent.

    A ``BaseException`` so that library code's ``except Exception`` cannot swallow it.
    """


def default_pool_size() -> int:
    """Helpers per pool: the cores this process may use, at most 4 (grading is a small share of an
    evaluation, and each helper holds a parser in memory)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class _Worker:
    """One helper process and the two pipe ends used to talk to it."""

    def __init__(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        # The helper must import exactly what the caller can import,
        # including test modules and source checkouts that are not installed.
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)
        self._imported: set[str] = set()
        self._waited_s = 0.0

    def alive(self) -> bool:
        return self._proc.poll() is None

    def waited_for_a_core_s(self) -> float:
        """Seconds the helper's main thread (where calls run) has been runnable but waiting for a
        core; 0 where the kernel does not say (then its limits are plain wall time)."""
        try:
            with open(f"/proc/{self._proc.pid}/schedstat") as stat:
                self._waited_s = int(stat.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            pass  # not Linux, or the helper has just exited: the last figure stands
        return self._waited_s

    def request(self, message: tuple, limit_s: float) -> tuple[str, Any]:
        """Send one request; return the helper's ``(status, payload)`` reply.

        Raises ``TimeoutError`` when no reply comes within ``limit_s`` of wall time less the time
        the helper waited for a core meanwhile, and ``HelperDied`` when the helper is gone.
        """
        try:
            self._send.send(message)
            started, waited = time.monotonic(), self.waited_for_a_core_s()
            while (left := limit_s - (time.monotonic() - started) + (self.waited_for_a_core_s() - waited)) > 0:
                if self._recv.poll(left):
                    return self._recv.recv()
        except (EOFError, OSError) as exc:
            raise HelperDied(f"grading helper (pid {self._proc.pid}) exited") from exc
        raise TimeoutError  # an OSError subclass, so raised outside the handler above

    def ensure_imported(self, fn: Callable[..., Any]) -> None:
        """Import ``fn``'s module in the helper, outside any budget."""
        module = getattr(fn, "__module__", None)
        if not module or module in self._imported:
            return
        status, payload = self.request(("import", module), _START_TIMEOUT_S)
        if status == "error":
            raise payload
        self._imported.add(module)

    def start(self, warm_up: Callable[[], object] | None) -> None:
        """Wait until the helper runs and has done ``warm_up`` (imports included)."""
        if warm_up is None:
            return
        self.ensure_imported(warm_up)
        status, payload = self.request(("call", warm_up, (), {}, _START_TIMEOUT_S), _START_TIMEOUT_S)
        if status != "ok":
            raise HelperStartError(f"grading helper warm-up {warm_up.__qualname__} failed: {payload!r}")

    def kill(self) -> None:
        if self.alive():
            self._proc.kill()
        self._proc.wait()
        self._send.close()
        self._recv.close()


@dataclasses.dataclass(frozen=True)
class _StartFailed:
    """Put among the free helpers in place of one that could not start, so that every waiting caller
    learns why."""

    error: BaseException


class HelperPool:
    """``size`` warm helper processes; ``run`` hands each call to a free one.

    ``warm_up`` (a module-level function, no arguments) runs once in every new helper before it
    takes calls, so that first-use costs (imports, grammar loading, caches) never count against a
    call's budget. Helpers start on the first call, and are killed at interpreter exit.
    """

    def __init__(self, size: int | None = None, warm_up: Callable[[], object] | None = None) -> None:
        self.size = size or default_pool_size()
        if self.size < 1:
            raise ValueError(f"a helper pool needs at least one helper, got size={size}")
        self._warm_up = warm_up
        self._lock = threading.Lock()
        self._ready = threading.Condition()
        self._reset()
        _POOLS.add(self)

    def _reset(self) -> None:
        # Free helpers, and callers waiting for one in arrival order: a helper goes to the caller
        # that has waited longest, so that no caller starves while others call again and again.
        self._free: collections.deque[_Worker | _StartFailed] = collections.deque()
        self._waiting: collections.deque[object] = collections.deque()
        self._workers: set[_Worker] = set()
        self._started = False

    def start(self) -> None:
        """Start every helper now and wait until each is ready, so that the first calls do not
        wait for start-up (for example before calls are timed)."""
        ready = [self._acquire() for _ in range(self.size)]
        for worker in ready:
            self._put(worker)

    def run(self, fn: Callable[..., T], *args: Any, budget_s: float, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a helper, stopped once it has used ``budget_s`` CPU seconds.

        ``fn`` must be importable by qualified name (a module-level function) and its arguments
        and result must be picklable. Exceptions raised by ``fn`` are re-raised here. Raises
        ``TimedOut`` when the budget runs out (or the wall time, less the helper's waits for a core,
        passes ``budget_s + HARD_STOP_GRACE_S``), ``HelperDied`` when the helper dies during the call, and
        ``HelperStartError`` when no helper can start at all. Time spent waiting for a free helper
        is not part of the budget.
        """
        if not budget_s > 0:
            raise ValueError(f"budget_s must be positive, got {budget_s}")
        worker = self._acquire()
        try:
            worker.ensure_imported(fn)
            status, payload = worker.request(("call", fn, args, kwargs, budget_s), budget_s + HARD_STOP_GRACE_S)
        except TimeoutError:
            self._replace(worker)
            raise TimedOut(f"{fn.__qualname__} ran past {budget_s + HARD_STOP_GRACE_S:.1f} s of wall time") from None
        except BaseException:
            # Died, interrupted mid-call (KeyboardInterrupt) or unpicklable arguments: the
            # helper's state is unknown, so it is replaced.
            self._replace(worker)
            raise
        self._put(worker)
        if status == "timeout":
            raise TimedOut(f"{fn.__qualname__} used its {budget_s:g} s CPU budget")
        if status == "error":
            raise payload
        return payload

    def _acquire(self) -> _Worker:
        with self._lock:
            if not self._started:
                self._started = True
                for _ in range(self.size):
                    self._start_worker()
        while True:
            item = self._take()
            if isinstance(item, _StartFailed):
                self._put(item)  # every waiting caller sees it
                raise HelperStartError(str(item.error)) from item.error
            if item.alive():
                return item
            self._replace(item)

    def _take(self) -> _Worker | _StartFailed:
        """The next free helper, for the caller that has waited longest."""
        ticket = object()
        with self._ready:
            self._waiting.append(ticket)
            while not (self._free and self._waiting[0] is ticket):
                self._ready.wait()
            self._waiting.popleft()
            item = self._free.popleft()
            self._ready.notify_all()
            return item

    def _put(self, item: _Worker | _StartFailed) -> None:
        with self._ready:
            self._free.append(item)
            self._ready.notify_all()

    def _start_worker(self) -> None:
        """Start one helper; it joins the free helpers when it is ready (in a background thread)."""

        def start() -> None:
            try:
                worker = _Worker()
            except OSError as exc:
                self._put(_StartFailed(HelperStartError(f"cannot start a grading helper: {exc}")))
                return
            with self._lock:
                self._workers.add(worker)
            try:
                worker.start(self._warm_up)
            except BaseException as exc:  # noqa: BLE001 - reported to every caller
                self._discard(worker)
                self._put(_StartFailed(exc if isinstance(exc, HelperStartError) else HelperStartError(repr(exc))))
                return
            self._put(worker)

        threading.Thread(target=start, name="grading-helper-start", daemon=True).start()

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        worker.kill()

    def _replace(self, worker: _Worker) -> None:
        self._discard(worker)
        self._start_worker()

    def shutdown(self) -> None:
        """Kill every helper; the next call starts new ones."""
        with self._lock:
            workers = list(self._workers)
            self._reset()
        for worker in workers:
            worker.kill()


_POOLS: weakref.WeakSet[HelperPool] = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    for pool in list(_POOLS):
        pool.shutdown()


def _forget_parent_helpers() -> None:
    # A forked child shares the parent's pipes (and maybe a held lock); talking to the parent's
    # helpers would interleave messages, so the child starts its own.
    for pool in list(_POOLS):
        pool._lock = threading.Lock()
        pool._ready = threading.Condition()
        pool._reset()


os.register_at_fork(after_in_child=_forget_parent_helpers)


def _serve(read_fd: int, write_fd: int) -> None:
    """Helper-process loop: answer requests until the parent closes the pipe."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides
    # when the helper stops, so the helper ignores it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPROF, _spend_budget)
    requests = Connection(read_fd, writable=False)
    replies = Connection(write_fd, readable=False)
    while True:
        try:
            message = requests.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - e.g. fn not importable here
            _reply(replies, ("error", exc))
            continue
        if message[0] == "import":
            _reply(replies, _import(message[1]))
        else:
            _, fn, args, kwargs, budget_s = message
            _reply(replies, _call(fn, args, kwargs, budget_s))


# Set when a call's budget runs out. Library code may catch the exception raised at that moment
# (a bare ``except:``) and still return; the call is reported as timed out all the same.
_budget_spent = False


def _spend_budget(signum: int, frame: object) -> None:
    global _budget_spent
    _budget_spent = True
    raise _Budget


def _import(module: str) -> tuple[str, Any]:
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - forwarded to the caller
        return "error", exc
    return "ok", None


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict, budget_s: float) -> tuple[str, Any]:
    """Run one call with ``ITIMER_PROF`` (process CPU time) armed for ``budget_s`` seconds."""
    global _budget_spent
    _budget_spent = False
    started = time.process_time()
    try:
        try:
            signal.setitimer(signal.ITIMER_PROF, budget_s)
            result = fn(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _Budget:
        return "timeout", time.process_time() - started
    except Exception as exc:  # noqa: BLE001 - forwarded to the caller
        return ("timeout", time.process_time() - started) if _budget_spent else ("error", exc)
    if _budget_spent:
        return "timeout", time.process_time() - started
    return "ok", result


def _reply(replies: Connection, reply: tuple) -> None:
    try:
        replies.send(reply)
    except Exception as exc:  # noqa: BLE001 - result or error not picklable
        replies.send(("error", RuntimeError(f"unpicklable reply: {exc!r}")))
