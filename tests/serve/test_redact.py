"""No answer of the server shows where its owner keeps files: model sources are relative or bare
names, and absolute paths inside error messages are cut to their last component."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathpe_jax.serve import ServedModel, Settings, create_app
from mathpe_jax.serve.errors import RequestError
from mathpe_jax.serve.redact import public_source, redact_paths
from tests.serve.conftest import fixed_answer_app, local_client, tiny_loaded

SECRET = "/home/someone/private/runs"


@pytest.fixture(scope="module")
def loaded():
    return tiny_loaded()


def test_no_answer_shows_an_absolute_path(tmp_path, monkeypatch, loaded):
    elsewhere = tmp_path / "scratch" / "runs" / "rope"
    here = tmp_path / "work"
    for directory in (elsewhere, here / "runs" / "nope"):
        directory.mkdir(parents=True)
    monkeypatch.chdir(here)  # the server runs in tmp_path/work
    models = [
        ServedModel("far", str(elsewhere), loaded),
        ServedModel("near", str(here / "runs" / "nope"), loaded),
        ServedModel("hub", "Qwen/Qwen2.5-Math-1.5B", loaded),
    ]
    with local_client(create_app(models, Settings(max_wait_s=0.0))) as client:
        sources = {m["name"]: m["source"] for m in client.get("/models").json()["models"]}
        assert sources == {"far": "rope", "near": "runs/nope", "hub": "Qwen/Qwen2.5-Math-1.5B"}
        for path in ("/models", "/health", "/examples", "/examples/far", "/openapi.json", "/nowhere"):
            assert str(tmp_path) not in client.get(path).text, path


def test_errors_show_no_absolute_path(monkeypatch):
    app = fixed_answer_app("97")
    model = app.state.drain.models[0]

    def missing_file(*_):
        raise FileNotFoundError(2, "No such file or directory", f"{SECRET}/rope/tokenizer.json")

    with local_client(app, raise_server_exceptions=False) as client:
        model.queue._decode = missing_file
        crashed = client.post("/solve", json={"problem": "1+2=", "model": "fixed"})
        assert crashed.status_code == 500
        assert crashed.json()["error"] == (
            "internal error: FileNotFoundError: [Errno 2] No such file or directory: '.../tokenizer.json'"
        )

        def no_template(problem, template):
            raise RequestError("template", f"model 'fixed': {SECRET}/qwen/tokenizer has no chat template")

        monkeypatch.setattr(model, "prompt", no_template)
        refused = client.post("/solve", json={"problem": "1+2=", "model": "fixed"})
        assert refused.json()["error"] == "model 'fixed': .../tokenizer has no chat template"
        compared = client.post("/compare", json={"problem": "1+2="})
        assert compared.status_code == 422 and SECRET not in compared.text


def test_compare_lists_refusals_without_paths(monkeypatch, loaded):
    able, unable = ServedModel("able", "a", loaded), ServedModel("unable", "b", loaded)

    def no_template(problem, template):
        raise RequestError("template", f"model 'unable': {SECRET}/tok has no chat template")

    monkeypatch.setattr(unable, "prompt", no_template)
    with local_client(create_app([able, unable], Settings(max_wait_s=0.0))) as client:
        body = client.post("/compare", json={"problem": "1+2=", "max_new_tokens": 2}).json()
    assert body["refused"] == [{"model": "unable", "field": "template", "error": "model 'unable': .../tok has no chat template"}]


@pytest.mark.parametrize(
    "text,shown",
    [
        ("/a/b/tokenizer.json has none", ".../tokenizer.json has none"),
        ("No such file: '/srv/x/y/'", "No such file: '.../y'"),
        ("see ~/runs/rope, then", "see .../rope, then"),
        ("path=/opt/models/q", "path=.../q"),
        ("12/34/56 and runs/rope/x and 1/2", "12/34/56 and runs/rope/x and 1/2"),  # not absolute: kept
        ("out of memory", "out of memory"),
    ],
)
def test_redact_paths_keeps_the_last_component(text, shown):
    assert redact_paths(text) == shown


def test_public_source_is_relative_inside_the_root_and_a_name_outside(tmp_path):
    (tmp_path / "root" / "runs" / "rope").mkdir(parents=True)
    root = tmp_path / "root"
    assert public_source(str(root / "runs" / "rope"), root) == "runs/rope"
    assert public_source(str(tmp_path / "elsewhere" / "nope"), root) == "nope"
    assert public_source("owner/model", root) == "owner/model"  # a hub id
    assert public_source(str(Path("~/x/y").expanduser()), root) == "y"
