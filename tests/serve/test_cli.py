"""``python -m mathpe_jax.serve`` as a user starts it: a trained run directory and a Hugging Face
checkpoint side by side, answers equal to ``solve``'s, loopback by default, no path in an answer,
and a graceful stop on SIGTERM in the middle of a burst, with exit status 0. The one-line errors of
bad command lines come from ``main(argv)`` in this process: they end before anything is served."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mathpe_jax.inference import load_checkpoint
from mathpe_jax.serve.__main__ import main as serve_main
from mathpe_jax.solve import solve_math_problem
from tests.conftest import REPO_ROOT
from tests.helpers_hf import tiny_checkpoint

READY = re.compile(r"serving \d+ models \(.*\) at (http://127\.0\.0\.1:(\d+))")
NO_TOKEN = "warning: no token is set (--token_file or MATHPE_SERVE_TOKEN): anyone who can connect"
TOKEN = "burst-0123456789abcdef"
BURST = 64  # requests, half sent before SIGTERM and half after
BUDGET = 16  # new tokens each, so that requests wait their turn


@pytest.fixture(scope="module")
def sources(trained_run, tmp_path_factory, tiny_hf_tokenizer_dir):
    """The session's trained run (read-only) and a tiny Qwen2 checkpoint."""
    hf_dir = tiny_checkpoint(tmp_path_factory.mktemp("hf"), tiny_hf_tokenizer_dir, "qwen2")
    return {"run": str(trained_run), "qwen": str(hf_dir)}


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mathpe_jax.serve", *args]


def start_server(*args: str) -> tuple[subprocess.Popen, str, int]:
    """``python -m mathpe_jax.serve`` on a free loopback port: the process, its address and port."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("MATHPE_SERVE_TOKEN", None)
    server = subprocess.Popen(serve_command(*args, "--port=0"), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    line = ""
    while not READY.search(line):
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            raise AssertionError(server.stderr.read()[-2000:])
        assert time.monotonic() < deadline, "the server did not announce itself"
    found = READY.search(line)  # bound to loopback unless --host says otherwise
    return server, found.group(1), int(found.group(2))


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.kill()
        server.wait()


def call(url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


@pytest.mark.slow
@pytest.mark.subprocess
def test_serves_a_run_and_a_hugging_face_checkpoint_as_solve_would(sources):
    server, url, _ = start_server(f"--model=run={sources['run']}", "--model", f"qwen={sources['qwen']}", "--max_wait_ms=1")
    try:
        models = {m["name"]: m for m in call(url, "/models")["models"]}
        # Sources outside the server's directory are named, not located.
        assert (models["run"]["pe"], models["run"]["task"]) == ("rope", "addition")
        assert models["run"]["source"] == Path(sources["run"]).name
        assert models["qwen"]["source"] == Path(sources["qwen"]).name and models["qwen"]["task"] == "gsm8k"
        for name, problem in [("run", "12+34="), ("qwen", "What is 3 plus 4?")]:
            body = call(url, "/solve", {"problem": problem, "model": name, "max_new_tokens": 6})
            direct = solve_math_problem(problem, load_checkpoint(sources[name]), max_new_tokens=6)
            assert body["completion_token_ids"] == direct["completion_token_ids"]
            assert body["completion"] == direct["completion"] and body["answer"] == direct["answer"]
        # The tokenizer's error names its directory; the answer does not.
        with pytest.raises(urllib.error.HTTPError) as refused:
            call(url, "/solve", {"problem": "What is 3 plus 4?", "model": "qwen", "template": "chat"})
        error = json.loads(refused.value.read())["error"]
        assert error.endswith(f"needs a Hugging Face tokenizer with a chat template; .../{Path(sources['qwen']).name} has none")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        stderr = server.stderr.read()
        assert stderr.count(NO_TOKEN) == 1, stderr[-2000:]
        assert "Traceback" not in stderr
    finally:
        stop(server)


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigterm_in_a_burst_answers_every_request_and_exits_0(sources, tmp_path):
    """Half a burst is sent before SIGTERM, half after it on connections already open: whatever had
    reached the server is answered, the rest refused with 503, none is cut off; exit status 0."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server, url, port = start_server(f"--model=run={sources['run']}", f"--token_file={token_file}",
                                     "--max_batch=1")  # one request at a time: one shape to compile
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    body = json.dumps({"problem": "1234+5678=", "model": "run", "max_new_tokens": BUDGET})

    def open_connection() -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.connect()
        return connection

    def queue() -> dict:
        connection = open_connection()
        connection.request("GET", "/health")
        return json.loads(connection.getresponse().read())["models"]["run"]

    try:
        warm = open_connection()  # compiles the one shape the burst decodes
        warm.request("POST", "/solve", body, headers)
        assert warm.getresponse().status == 200

        connections = [open_connection() for _ in range(BURST)]
        probe = open_connection()
        first, second = connections[: BURST // 2], connections[BURST // 2 :]
        for connection in first:
            connection.request("POST", "/solve", body, headers)
        answered_first = first[0].getresponse()
        outcomes = [(answered_first.status, answered_first.headers, json.loads(answered_first.read()))]
        before = queue()  # of the burst, at least requests - 1 (the warm-up) + pending have arrived
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while True:  # until the server refuses new requests (a 503 closes the connection)
            probe.request("GET", "/health")
            response = probe.getresponse()
            response.read()
            if response.status == 503:
                break
            assert response.status == 200 and time.monotonic() < deadline
        for connection in second:
            connection.request("POST", "/solve", body, headers)

        for connection in connections[1:]:
            response = connection.getresponse()  # a reset connection raises here
            outcomes.append((response.status, response.headers, json.loads(response.read())))
        assert server.wait(timeout=60) == 0
        stderr = server.stderr.read()
    finally:
        stop(server)
    answered = [o for o in outcomes if o[0] == 200 and o[2]["completion_tokens"] > 0]
    refused = [o for o in outcomes if o[0] == 503 and o[1]["Retry-After"] and "shutting down" in o[2]["error"]]
    print(f"SIGTERM with {before['pending']} requests queued: {len(answered)} answered, {len(refused)} refused of {BURST}")
    assert len(answered) + len(refused) == BURST, [o[0] for o in outcomes]
    # What had arrived ran; what came after the signal did not.
    assert before["requests"] - 1 + before["pending"] <= len(answered) <= BURST // 2
    assert "stopping on SIGTERM" in stderr and "Traceback" not in stderr and NO_TOKEN not in stderr


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "error: no model to serve: give --model NAME=DIRECTORY at least once"),
        (["--model=rope"], "error: --model='rope': expected NAME=DIRECTORY_OR_HUB_ID"),
        (["--model=a=/no/such/dir"], "error: checkpoint not found: /no/such/dir"),
        (["--model=a=/x", "--model=a=/y"], "error: --model: the name 'a' is given twice"),
        (["--model=a b=/x"], "error: --model='a b=/x': a model name may hold letters, digits, '-', '_' and '.' only"),
        (["--model=a=/x", "--base=b=/y"], "error: --base=b=...: no --model is named 'b'"),
        (["--model=a=/x", "--token_file=/no/such/token"], "error: --token_file=/no/such/token: no such file"),
        (["--model=a=/x", "--allowed_hosts=login1,http://login2"],
         "error: --allowed_hosts: 'http://login2' is not a host name or address (give it without scheme, port or path)"),
    ],
)
def test_bad_command_lines_end_in_one_error_line(args, message, capsys, monkeypatch):
    monkeypatch.delenv("MATHPE_SERVE_TOKEN", raising=False)
    with pytest.raises(SystemExit) as refused:
        serve_main(args)
    assert refused.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message
