"""Shutting down without dropping a request: once draining, new requests get 503 with Retry-After;
abandoning answers queued and decoding requests with 503; and a graceful stop of a real server
answers the connections the kernel holds for it instead of resetting them."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from mathpe_jax.serve import Settings
from mathpe_jax.serve.drain import RETRY_AFTER_S
from mathpe_jax.serve.server import GracefulServer
from tests.serve.conftest import fixed_answer_app, free_port, local_client

SOLVE = {"problem": "12+34=", "model": "fixed", "max_new_tokens": 4}


def assert_unavailable(status: int, headers, body: dict) -> None:
    assert status == 503
    assert headers["retry-after"] == str(RETRY_AFTER_S) and headers["connection"] == "close"
    assert "shutting down" in body["error"] and body["field"] is None


def test_once_draining_every_new_request_gets_503():
    app = fixed_answer_app("97")
    with local_client(app) as client:
        assert client.post("/solve", json=SOLVE).json()["answer"] == "97"
        app.state.drain.begin()
        for method, path, body in [("POST", "/solve", SOLVE), ("POST", "/compare", SOLVE), ("GET", "/models", None),
                                   ("GET", "/health", None)]:
            refused = client.request(method, path, json=body)
            assert_unavailable(refused.status_code, refused.headers, refused.json())


def test_abandon_answers_the_decoding_and_the_queued_requests_with_503():
    gate = threading.Event()
    app = fixed_answer_app("97", Settings(max_wait_s=0.0), gate=gate)
    queue = app.state.drain.models[0].queue

    async def abandoned():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=30) as client:
            sent = [asyncio.ensure_future(client.post("/solve", json=SOLVE))]
            await asyncio.sleep(0.3)  # taken by the decoding thread, which the gate holds
            sent += [asyncio.ensure_future(client.post("/solve", json=SOLVE)) for _ in range(3)]
            while queue.pending < 3:
                await asyncio.sleep(0.01)
            app.state.drain.abandon()
            return await asyncio.gather(*sent)

    try:
        responses = asyncio.run(asyncio.wait_for(abandoned(), 30))
    finally:
        gate.set()
    for response in responses:
        assert_unavailable(response.status_code, response.headers, response.json())


def test_a_graceful_stop_answers_what_it_holds_and_then_refuses_connections():
    gate = threading.Event()
    app = fixed_answer_app("97", Settings(max_wait_s=0.0), gate=gate)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = GracefulServer(config, app.state.drain, grace_s=20)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)

    def post() -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/solve", json.dumps(SOLVE), {"Content-Type": "application/json"})
        return connection

    try:
        running = post()  # decoding when the stop comes: held at the gate
        while not server.server_state.tasks:
            time.sleep(0.01)
        # With the event loop held, new connections wait in the kernel's accept queue, requests sent.
        server.loop.call_soon_threadsafe(time.sleep, 1.0)
        time.sleep(0.1)
        held = [post() for _ in range(20)]
        server.handle_exit(signal.SIGTERM, None)
        time.sleep(1.5)
        gate.set()
        first = running.getresponse()
        assert first.status == 200 and json.loads(first.read())["answer"] == "97"
        for connection in held:
            response = connection.getresponse()  # a reset would raise here
            assert_unavailable(response.status, response.headers, json.loads(response.read()))
        thread.join(30)
        assert not thread.is_alive()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
    finally:
        gate.set()
        server.should_exit = True
        thread.join(30)
