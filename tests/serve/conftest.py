"""Tiny served models (random weights, the tiny test config) and a live server on loopback."""

from __future__ import annotations

import functools
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from mathpe_jax import build
from mathpe_jax.inference import Loaded
from mathpe_jax.parallel.mesh import mesh_from_config
from mathpe_jax.serve import ServedModel, Settings, create_app
from mathpe_jax.serve.batcher import DecodeQueue
from tests.helpers_run import tiny_config

# Two models that differ only in their PE, on the tiny addition task (64 positions).
MODEL_PES = {"rope": "rope", "nope": "nope"}


def tiny_served(name: str, pe: str, **overrides) -> ServedModel:
    """A randomly initialised tiny model of ``configs/<pe>.py`` (seed 0) under ``name``."""
    config = tiny_config(pe, **overrides)
    tokenizer = build.build_tokenizer(config, Path(tempfile.mkdtemp()))
    model = build.build_model(config, tokenizer, mesh_from_config({"data": -1, "fsdp": 1, "tensor": 1}))
    return ServedModel(name, f"configs/{pe}.py (random weights)", Loaded(model, tokenizer, build.make_task(config)))


@functools.cache
def tiny_loaded() -> Loaded:
    """One tiny model (``configs/rope.py``, random weights) shared by the tests that only read it."""
    return tiny_served("fixed", "rope").loaded


def fixed_answer_app(text: str, settings: Settings = Settings(max_wait_s=0.0), gate: threading.Event | None = None):
    """A server whose one model ("fixed") answers every prompt with ``text`` then EOS, without
    compiling anything (after ``gate`` is set, when one is given): for tests of what surrounds
    decoding (grading, access, shutting down)."""
    served = ServedModel("fixed", "configs/rope.py (random weights)", tiny_loaded())
    tokenizer = served.loaded.tokenizer
    app = create_app([served], settings)
    served.stop()
    answer = tokenizer.encode(text) + [tokenizer.eos_id]

    def decode(prompts, *_):
        if gate is not None:
            gate.wait(60)
        return [answer] * len(prompts)

    served.queue = DecodeQueue("fixed", decode, max_len=64, max_batch=8, max_wait_s=settings.max_wait_s,
                               max_pending=settings.max_pending)
    return app


def local_client(app, **kwargs) -> TestClient:
    """A test client that names the server as a browser on the same host does (``Host: localhost``)."""
    return TestClient(app, base_url="http://localhost", **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``app`` served by uvicorn in a thread on a free loopback port, until ``stop``."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def served_models() -> list[ServedModel]:
    return [tiny_served(name, pe) for name, pe in MODEL_PES.items()]


def serve(models: Sequence[ServedModel], **settings) -> LiveServer:
    return LiveServer(create_app(models, Settings(**settings)))


@pytest.fixture(scope="module")
def live_server(served_models) -> Iterator[LiveServer]:
    """The two tiny models behind a real HTTP server (batches of up to 16, 5 ms wait)."""
    server = serve(served_models, max_batch=16, max_wait_s=0.005)
    yield server
    server.stop()
