"""The serving check of ``tools/bench.py serve``: the HTTP API under a burst of concurrent
``/solve`` requests, with batching on and then off.

Two models are served by ``python -m mathpe_jax.serve`` in a subprocess on a free loopback port,
once per mode, each time a fresh server. Without ``NAME=DIR`` specs they are two randomly
initialised Llama-shaped checkpoints (``DEFAULT_SHAPE``, ~23M parameters, one with full and one with
grouped-query attention), saved once into the work directory by ``benchmarks.models.make_llama`` and reused;
with random weights EOS is rare, so a request generates about ``max_new_tokens`` tokens, the
workload of a server whose answers are worked solutions. (A model trained on short answers, such
as a reversed-addition run, writes a handful of tokens: a request then costs about as much as its
HTTP round trip, which batching cannot share.) The modes:

* batching on: ``--max_batch`` requests at most per decoded batch, ``--max_wait_ms`` of gathering;
* batching off: ``--max_batch=1``, so every request is decoded alone.

Against each server, bursts of the same requests until one, after at least one untimed warm-up,
compiles no new shape: that one is timed, so compilation is not measured (batches form by timing,
so a burst may meet a bucket shape no earlier one did). At most ``warmup_bursts`` are untimed; the
next one counts anyway, and ``compiled_during_timing`` then says what it compiled. Each burst is
``requests`` ``POST /solve`` all sent at once from a fresh ``httpx.AsyncClient`` (fresh
connections), alternating between the models, each with a problem of its model's own test set
(its own synthetic task's, else short arithmetic questions), without a template, and the same
``max_new_tokens``, so both modes do the same work.

Figures per mode, all measured by the client: errors (a status other than 200, or a transport
error), wall seconds of the burst, requests/s and generated tokens/s (``completion_tokens``
summed), latency p50/p99/max of each request from its sending to its answer, the mean
``batch_size`` the responses report, and from ``GET /health`` each model's compiled shapes, the
shapes compiled during the timed burst (none, when the warm-up covered them) and the server's
own batch count; and the CPU seconds the client and the server process spent on the burst (Linux),
since the load generator shares the machine's cores with the server. ``throughput_ratio`` is
requests/s with batching over requests/s without.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.models import make_llama

# The models made when none is given: random Llama-shaped checkpoints (name -> kv heads), small
# enough to make in seconds and large enough that decoding one row reads weights rather than computes.
DEFAULT_SHAPE = {"layers": 4, "width": 512, "heads": 8, "vocab": 8000, "mlp": 1376}
DEFAULT_MODELS = {"llama_mha": 8, "llama_gqa": 2}
READY = re.compile(r"serving \d+ models?\b.*? at (http://\S+)")
START_TIMEOUT_S = 600  # loading and the first compilations of two models on a busy CPU
STOP_TIMEOUT_S = 30
EXAMPLES = 50  # problems asked of each model's example source (the API's most)

Log = Callable[[str], None]


# -- models ----------------------------------------------------------------------------------------
def default_models(workdir: str | Path, log: Log = print) -> list[str]:
    """``NAME=DIR`` of the two default checkpoints under ``workdir``, made where missing."""
    specs = []
    for seed, (name, kv_heads) in enumerate(DEFAULT_MODELS.items()):
        directory = Path(workdir) / name
        if (directory / "config.json").is_file():
            log(f"models: reusing {directory}")
        else:
            count = make_llama(directory, kv_heads=kv_heads, seed=seed, **DEFAULT_SHAPE)
            log(f"models: made {directory} ({count / 1e6:.1f}M parameters, random weights)")
        specs.append(f"{name}={directory}")
    return specs


# -- the server ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m mathpe_jax.serve`` in a subprocess on a free loopback port, until ``stop``.

    Its output (stdout and stderr together) is read by a thread, so the pipe never fills; the
    last lines are kept for the error of a server that does not start.
    """

    def __init__(self, specs: Sequence[str], max_batch: int, max_wait_ms: float, log: Log = print):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "mathpe_jax.serve", *(f"--model={spec}" for spec in specs)]
        args += ["--host=127.0.0.1", f"--port={self.port}", f"--max_batch={max_batch}", f"--max_wait_ms={max_wait_ms:g}"]
        self.lines: deque[str] = deque(maxlen=40)
        self._ready = threading.Event()
        self._log = log
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env={**os.environ}
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip()
            self.lines.append(line)
            match = READY.search(line)
            if match and not self._ready.is_set():
                self.url = match.group(1).rstrip("/.,;)")
                self._ready.set()

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.2):
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                raise RuntimeError(f"the server exited with status {self.process.returncode}:\n" + self.output())
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready after {timeout:.0f}s:\n" + self.output())

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``STOP_TIMEOUT_S``; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._log(f"server: no exit {STOP_TIMEOUT_S}s after SIGTERM; killing it")
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


# -- the load --------------------------------------------------------------------------------------
def payloads(examples: Mapping[str, Sequence[str]], requests: int, max_new_tokens: int) -> list[dict[str, Any]]:
    """``requests`` bodies, alternating over the models, each model cycling through its problems,
    each asked as it is (template ``none``; a synthetic task has no other)."""
    names = list(examples)
    out = []
    for i in range(requests):
        name = names[i % len(names)]
        problems = examples[name]
        out.append({"problem": problems[(i // len(names)) % len(problems)], "model": name,
                    "max_new_tokens": max_new_tokens, "template": "none"})
    return out


async def _send(client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = await client.post(f"{url}/solve", json=body)
        status, text = response.status_code, response.text
    except Exception as err:  # noqa: BLE001 - a transport error counts as an error, not a crash
        status, text = None, f"{type(err).__name__}: {err}"
    result: dict[str, Any] = {"status": status, "seconds": time.perf_counter() - started}
    if status == 200:
        result["body"] = json.loads(text)
    else:
        result["error"] = text[:300]
    return result


async def burst(client, url: str, bodies: Sequence[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """Every body sent at once; the wall seconds from the first sending to the last answer."""
    started = time.perf_counter()
    results = await asyncio.gather(*(_send(client, url, body) for body in bodies))
    return time.perf_counter() - started, list(results)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q))


def summarize(wall: float, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one timed burst (see the module docstring)."""
    ok = [r for r in results if r["status"] == 200]
    errors = [r for r in results if r["status"] != 200]
    latencies = [r["seconds"] * 1e3 for r in results]
    tokens = sum(r["body"]["completion_tokens"] for r in ok)
    sizes = [r["body"]["batch_size"] for r in ok]
    return {
        "requests": len(results),
        "errors": len(errors),
        "error_samples": sorted({f"{r['status']}: {r['error']}" for r in errors})[:5],
        "wall_seconds": wall,
        "requests_per_second": len(ok) / wall,
        "completion_tokens": tokens,
        "tokens_per_second": tokens / wall,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
            "mean": float(np.mean(latencies)),
        },
        "server_latency_ms_mean": float(np.mean([r["body"]["latency_ms"] for r in ok])) if ok else None,
        "mean_batch_size": float(np.mean(sizes)) if sizes else None,
        "largest_batch_size": max(sizes) if sizes else None,
    }


async def _health(client, url: str) -> dict[str, Any]:
    response = await client.get(f"{url}/health")
    response.raise_for_status()
    return response.json()["models"]


async def _examples(client, url: str, names: Sequence[str]) -> dict[str, list[str]]:
    """Problems for each model: its own synthetic task's test problems, else short arithmetic
    questions (``short_problems``), asked without a template."""
    response = await client.get(f"{url}/examples")
    response.raise_for_status()
    own = {s["id"] for s in response.json()["sources"]}
    out = {}
    for name in names:
        if name not in own:
            out[name] = short_problems(EXAMPLES)
            continue
        response = await client.get(f"{url}/examples/{name}", params={"count": EXAMPLES})
        if response.status_code != 200:
            raise RuntimeError(f"GET /examples/{name}: {response.status_code} {response.text[:300]}")
        out[name] = [example["problem"] for example in response.json()["examples"]]
    return out


def short_problems(count: int, seed: int = 0) -> list[str]:
    """Short questions (``What is 417 + 86?``): a worked solution is much longer than its question,
    so a request's cost is its decoding, as for the math word problems a server answers."""
    rng = np.random.default_rng(seed)
    return [f"What is {a} + {b}?" for a, b in rng.integers(1, 1000, size=(count, 2))]


def _client(connections: int, timeout_s: float):
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(timeout_s, connect=60.0), trust_env=False)


async def _timed_burst(url: str, bodies: Sequence[dict[str, Any]], timeout_s: float) -> tuple[float, list[dict[str, Any]]]:
    """``burst`` from a client of its own: every burst opens fresh connections, so none reuses one
    the server is closing (uvicorn drops a connection idle for 5 s) and every burst does the same."""
    async with _client(len(bodies) + 8, timeout_s) as client:
        return await burst(client, url, bodies)


def process_cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of process ``pid`` so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def _drive(
    url: str, names: Sequence[str], spec: Mapping[str, Any], label: str, log: Log, server_pid: int
) -> dict[str, Any]:
    """Bursts until one, after at least one warm-up, compiles no new shape: that one is timed
    (batches form by timing, so a burst may meet a bucket no earlier burst did, and its time would
    be mostly compilation). At most ``warmup_bursts`` untimed bursts; the next one counts anyway."""
    for name in ("httpx", "httpcore"):  # a line per request would bury the progress lines
        logging.getLogger(name).setLevel(logging.WARNING)
    requests, timeout_s = spec["requests"], spec["request_timeout_s"]
    warmup_errors = 0
    async with _client(8, timeout_s) as client:
        examples = await _examples(client, url, names)
        bodies = payloads(examples, requests, spec["max_new_tokens"])
        after = await _health(client, url)
        for i in range(1, spec["warmup_bursts"] + 2):
            before = after
            server_cpu, client_cpu = process_cpu_seconds(server_pid), time.process_time()
            wall, results = await _timed_burst(url, bodies, timeout_s)
            client_cpu = time.process_time() - client_cpu
            server_end = process_cpu_seconds(server_pid)
            after = await _health(client, url)
            new = _shapes(after) - _shapes(before)
            if i > 1 and not new or i == spec["warmup_bursts"] + 1:
                break
            report = summarize(wall, results)
            warmup_errors += report["errors"]
            log(f"{label}: warm-up burst {i} of {requests} in {wall:.2f}s ({report['errors']} errors, {len(new)} new compiled shapes)")
    report = summarize(wall, results)
    report["warmup_bursts"] = i - 1
    report["warmup_errors"] = warmup_errors
    # Where the burst's time went: the load generator shares the machine with the server.
    report["client_cpu_seconds"] = client_cpu
    report["server_cpu_seconds"] = None if server_cpu is None or server_end is None else server_end - server_cpu
    report["compiled_shapes"] = {name: stats["compiled_shapes"] for name, stats in after.items()}
    report["compiled_during_timing"] = {
        name: [s for s in stats["compiled_shapes"] if s not in before[name]["compiled_shapes"]] for name, stats in after.items()
    }
    batches = sum(after[n]["batches"] - before[n]["batches"] for n in after)
    served = sum(after[n]["requests"] - before[n]["requests"] for n in after)
    report["server_batches"] = batches
    report["server_mean_batch_size"] = served / batches if batches else None
    return report


def _shapes(health: Mapping[str, Any]) -> set[tuple[str, tuple[int, ...]]]:
    return {(name, tuple(shape)) for name, stats in health.items() for shape in stats["compiled_shapes"]}


def measure(specs: Sequence[str], spec: Mapping[str, Any], max_batch: int, label: str, log: Log = print) -> dict[str, Any]:
    """One mode: a fresh server with ``max_batch``, warmed up, then one timed burst."""
    names = [s.partition("=")[0] for s in specs]
    log(f"{label}: starting a server (max_batch={max_batch}, max_wait_ms={spec['max_wait_ms']:g}) for {', '.join(names)}")
    started = time.perf_counter()
    server = Server(specs, max_batch, spec["max_wait_ms"], log)
    try:
        server.wait_ready()
        log(f"{label}: server ready at {server.url} in {time.perf_counter() - started:.1f}s")
        report = asyncio.run(_drive(server.url, names, spec, label, log, server.process.pid))
    finally:
        status = server.stop()
    report = {"max_batch": max_batch, "max_wait_ms": spec["max_wait_ms"], **report, "server_exit_status": status}
    latency = report["latency_ms"]
    log(
        f"{label}: {report['requests']} requests, {report['errors']} errors in {report['wall_seconds']:.2f}s: "
        f"{report['requests_per_second']:.1f} requests/s, {report['tokens_per_second']:.0f} tokens/s; "
        f"latency p50 {latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms; "
        f"mean batch {report['mean_batch_size'] or 0:.1f}; CPU seconds: client {report['client_cpu_seconds']:.2f}, "
        f"server {report['server_cpu_seconds'] if report['server_cpu_seconds'] is not None else float('nan'):.2f}"
    )
    return report


def check_spec(spec: Mapping[str, Any]) -> None:
    """Settings the check can run; raises ValueError naming the flag."""
    if spec["requests"] < 1:
        raise ValueError(f"--requests must be >= 1, got {spec['requests']}")
    if spec["max_batch"] < 2:
        raise ValueError(f"--max_batch must be >= 2 (batching on; off is always 1), got {spec['max_batch']}")
    if spec["warmup_bursts"] < 1:
        raise ValueError(f"--warmup_bursts must be >= 1, got {spec['warmup_bursts']}")
    if spec["max_wait_ms"] < 0:
        raise ValueError(f"--max_wait_ms must be >= 0, got {spec['max_wait_ms']}")
    if spec["max_new_tokens"] < 1:
        raise ValueError(f"--max_new_tokens must be >= 1, got {spec['max_new_tokens']}")
    names = [s.partition("=")[0] for s in spec["model"]]
    if any("=" not in s for s in spec["model"]) or len(set(names)) != len(names):
        raise ValueError(f"--model: give distinct NAME=DIR specs, got {list(spec['model'])}")


def run(spec: Mapping[str, Any], log: Log = print) -> dict[str, Any]:
    """Both modes against the ``model`` specs (``NAME=DIR``) of ``spec``, or against two random
    checkpoints made in ``workdir`` when it names none; the report ``tools/bench.py serve`` prints.

    ``spec`` holds the sizes ``requests``, ``max_batch``, ``max_wait_ms``, ``max_new_tokens``,
    ``warmup_bursts`` and ``request_timeout_s``.
    """
    specs = list(spec["model"]) or default_models(spec["workdir"], log)
    import jax  # only for the report: the platform the servers will decode on

    device = jax.devices()[0]
    log(f"device: {device.device_kind} ({device.platform}), {os.cpu_count()} CPUs; models {', '.join(specs)}")
    on = measure(specs, spec, spec["max_batch"], "batching on", log)
    off = measure(specs, spec, 1, "batching off", log)
    ratio = on["requests_per_second"] / off["requests_per_second"] if off["requests_per_second"] else None
    if ratio is not None:
        log(f"throughput with batching / without: {ratio:.2f}x")
    return {
        "mode": "serve",
        "platform": device.platform,
        "device_kind": device.device_kind,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax_version": jax.__version__,
        "models": dict(s.split("=", 1) for s in specs),
        "config": {
            "requests": spec["requests"],
            "max_batch": spec["max_batch"],
            "max_wait_ms": spec["max_wait_ms"],
            "max_new_tokens": spec["max_new_tokens"],
            "warmup_bursts": spec["warmup_bursts"],
        },
        "batching_on": on,
        "batching_off": off,
        "throughput_ratio": ratio,
        "tokens_per_second_ratio": on["tokens_per_second"] / off["tokens_per_second"] if off["tokens_per_second"] else None,
    }

