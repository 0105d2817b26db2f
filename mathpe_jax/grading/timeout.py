"""Hard wall-clock timeouts for untrusted, possibly runaway computations.

Symbolic grading can hang on adversarial model output (``9^9^9^9``, deeply
nested brackets, huge strings). ``signal.alarm`` only works on the main thread
of the main interpreter and cannot interrupt long C-level loops, so calls are
instead run in a persistent helper process that the caller kills and replaces
when a call overruns. Reusing the helper keeps a call cheap (one pickle round
trip over a pipe), which matters when grading thousands of answers.

The helper is a plain ``subprocess.Popen`` child rather than a
``multiprocessing.Process``: multiprocessing refuses to start children from
daemonic processes (e.g. ``multiprocessing.Pool`` workers), and a plain child
also works from any thread. Each concurrent caller gets its own helper from a
small idle pool, so callers in different threads run in parallel.
"""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

__all__ = ["run_with_timeout"]

T = TypeVar("T")

# Importing heavy modules (sympy, math-verify) can take seconds on a busy
# machine; that one-off cost must not count against a call's timeout.
_IMPORT_TIMEOUT_S = 300.0

_BOOTSTRAP = (
    "import sys; from mathpe_jax.grading.timeout import _serve; _serve(int(sys.argv[1]), int(sys.argv[2]))"
)


class _WorkerDied(Exception):
    """The helper process exited or was killed before answering."""


class _Worker:
    """One helper process plus the two pipe ends used to talk to it."""

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

    def alive(self) -> bool:
        return self._proc.poll() is None

    def _request(self, message: tuple, timeout_s: float) -> tuple[str, Any]:
        """Send one request; return the helper's ``(status, payload)`` reply."""
        try:
            self._send.send(message)
            if not self._recv.poll(timeout_s):
                raise TimeoutError
            return self._recv.recv()
        except (EOFError, OSError) as exc:
            raise _WorkerDied from exc

    def call(self, fn: Callable[..., T], args: tuple, kwargs: dict, timeout_s: float) -> tuple[str, Any]:
        module = getattr(fn, "__module__", None)
        if module and module not in self._imported:
            status, payload = self._request(("import", module), _IMPORT_TIMEOUT_S)
            if status == "error":
                return status, payload
            self._imported.add(module)
        return self._request(("call", fn, args, kwargs), timeout_s)

    def kill(self) -> None:
        if self.alive():
            self._proc.kill()
        self._proc.wait()
        self._send.close()
        self._recv.close()


class _Pool:
    """Idle helpers, handed out one per concurrent call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()

    def acquire(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                self._all.discard(worker)
                worker.kill()
        worker = _Worker()
        with self._lock:
            self._all.add(worker)
        return worker

    def release(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()

    def shutdown(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.kill()


_pool = _Pool()
atexit.register(lambda: _pool.shutdown())


def _forget_parent_pool() -> None:
    # A forked child shares the parent's pipes; talking to the parent's
    # helpers would interleave messages, so the child starts its own pool.
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_parent_pool)


def run_with_timeout(
    fn: Callable[..., T],
    *args: Any,
    timeout_s: float = 5.0,
    default: Any = None,
    **kwargs: Any,
) -> T | Any:
    """Run ``fn(*args, **kwargs)`` in a helper process, giving up after ``timeout_s``.

    ``fn`` must be importable by qualified name (a module-level function) and
    its arguments and result must be picklable. On timeout, or if the helper
    dies (crash, out of memory), the helper is killed, a fresh one is started
    on the next call, and ``default`` is returned. Exceptions raised by ``fn``
    are re-raised in the caller. Safe to call from any thread and from inside
    worker processes; the first call on a new helper additionally waits for
    ``fn``'s module to be imported there, outside the timeout.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    worker = _pool.acquire()
    try:
        status, payload = worker.call(fn, args, kwargs, timeout_s)
    except (TimeoutError, _WorkerDied):
        _pool.discard(worker)
        return default
    except BaseException:
        # Interrupted mid-call (e.g. KeyboardInterrupt) or arguments that
        # cannot be pickled: the helper's state is unknown, so replace it.
        _pool.discard(worker)
        raise
    _pool.release(worker)
    if status == "error":
        raise payload
    return payload


def _serve(read_fd: int, write_fd: int) -> None:
    """Helper-process loop: answer requests until the parent closes the pipe."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides
    # when the helper stops, so the helper ignores it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        try:
            if message[0] == "import":
                importlib.import_module(message[1])
                reply: tuple = ("ok", None)
            else:
                _, fn, args, kwargs = message
                reply = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - forwarded to the caller
            reply = ("error", exc)
        _reply(replies, reply)


def _reply(replies: Connection, reply: tuple) -> None:
    try:
        replies.send(reply)
    except Exception as exc:  # noqa: BLE001 - result or error not picklable
        replies.send(("error", RuntimeError(f"unpicklable reply: {exc!r}")))
