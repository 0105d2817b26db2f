"""``python -m mathpe_jax.serve`` as a user starts it: a trained run directory and a Hugging Face
checkpoint side by side, answers equal to ``solve``'s, loopback by default, one-line errors, and a
clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from mathpe_jax.inference import load_checkpoint
from mathpe_jax.solve import solve_math_problem
from tests.conftest import REPO_ROOT
from tests.data.conftest import tiny_hf_tokenizer_dir  # noqa: F401 - fixture
from tests.helpers_hf import tiny_checkpoint
from tests.helpers_run import run_main

READY = re.compile(r"serving 2 models \(run, qwen\) at (http://127\.0\.0\.1:\d+)")


@pytest.fixture(scope="module")
def sources(tmp_path_factory, tiny_hf_tokenizer_dir):  # noqa: F811
    run_dir = tmp_path_factory.mktemp("run") / "rope"
    done = run_main(run_dir, "rope", **{"train.steps": 10, "eval.examples_per_length": 2})
    assert done.returncode == 0, done.stderr[-2000:]
    hf_dir = tiny_checkpoint(tmp_path_factory.mktemp("hf"), tiny_hf_tokenizer_dir, "qwen2")
    return {"run": str(run_dir), "qwen": str(hf_dir)}


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mathpe_jax.serve", *args]


def call(url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_serves_a_run_and_a_hugging_face_checkpoint_as_solve_would(sources):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    args = [f"--model=run={sources['run']}", "--model", f"qwen={sources['qwen']}", "--port=0", "--max_wait_ms=1"]
    server = subprocess.Popen(serve_command(*args), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        line = ""
        while not READY.search(line):
            line = server.stdout.readline()
            assert line or server.poll() is None, server.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the server did not announce itself"
        url = READY.search(line).group(1)  # bound to loopback unless --host says otherwise
        models = {m["name"]: m for m in call(url, "/models")["models"]}
        assert (models["run"]["pe"], models["run"]["task"], models["run"]["source"]) == ("rope", "addition", sources["run"])
        assert models["qwen"]["source"] == sources["qwen"] and models["qwen"]["task"] == "gsm8k"
        for name, problem in [("run", "12+34="), ("qwen", "What is 3 plus 4?")]:
            body = call(url, "/solve", {"problem": problem, "model": name, "max_new_tokens": 6})
            direct = solve_math_problem(problem, load_checkpoint(sources[name]), max_new_tokens=6)
            assert body["completion_token_ids"] == direct["completion_token_ids"]
            assert body["completion"] == direct["completion"] and body["answer"] == direct["answer"]
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why.
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "Traceback" not in server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "error: no model to serve: give --model NAME=DIRECTORY at least once"),
        (["--model=rope"], "error: --model='rope': expected NAME=DIRECTORY_OR_HUB_ID"),
        (["--model=a=/no/such/dir"], "error: checkpoint not found: /no/such/dir"),
        (["--model=a=/x", "--model=a=/y"], "error: --model: the name 'a' is given twice"),
        (["--model=a b=/x"], "error: --model='a b=/x': a model name may hold letters, digits, '-', '_' and '.' only"),
        (["--model=a=/x", "--base=b=/y"], "error: --base=b=...: no --model is named 'b'"),
    ],
)
def test_bad_command_lines_end_in_one_error_line(args, message):
    done = subprocess.run(serve_command(*args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == message
