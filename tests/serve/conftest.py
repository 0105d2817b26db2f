"""Tiny served models (random weights, the tiny test config) and a live server on loopback."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn

from mathpe_jax import build
from mathpe_jax.inference import Loaded
from mathpe_jax.parallel.mesh import mesh_from_config
from mathpe_jax.serve import ServedModel, Settings, create_app
from tests.helpers_run import tiny_config

# Two models that differ only in their PE, on the tiny addition task (64 positions).
MODEL_PES = {"rope": "rope", "nope": "nope"}


def tiny_served(name: str, pe: str, **overrides) -> ServedModel:
    """A randomly initialised tiny model of ``configs/<pe>.py`` (seed 0) under ``name``."""
    config = tiny_config(pe, **overrides)
    tokenizer = build.build_tokenizer(config, Path(tempfile.mkdtemp()))
    model = build.build_model(config, tokenizer, mesh_from_config({"data": -1, "fsdp": 1, "tensor": 1}))
    return ServedModel(name, f"configs/{pe}.py (random weights)", Loaded(model, tokenizer, build.make_task(config)))


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
