"""The API on two tiny models: every route, answers equal to ``solve``, batching that changes no
answer, graded comparisons, the compiled-shape cache, and every kind of bad input."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from mathpe_jax import decode
from mathpe_jax.build import parameter_count
from mathpe_jax.serve import Settings, create_app
from mathpe_jax.solve import solve_math_problem
from tests.serve.conftest import fixed_answer_app, local_client, tiny_served

PROBLEM = "12+34="


@pytest.fixture(scope="module")
def models():
    return [tiny_served("rope", "rope"), tiny_served("nope", "nope")]


@pytest.fixture(scope="module")
def app(models):
    # A long wait, so requests sent together are certain to share a batch.
    return create_app(models, Settings(max_batch=8, max_wait_s=0.3, max_request_bytes=4096, max_new_tokens_limit=64))


@pytest.fixture(scope="module")
def client(app):
    with local_client(app) as c:
        yield c


def solve(client, **body):
    return client.post("/solve", json={"problem": PROBLEM, "model": "rope", **body})


def test_models_lists_name_pe_parameters_source_and_task(client, models):
    listed = client.get("/models").json()["models"]
    assert [m["name"] for m in listed] == ["rope", "nope"]
    for info, served in zip(listed, models):
        assert info["pe"] == served.name
        assert info["parameters"] == parameter_count(served.loaded.model)
        assert info["source"] == served.source and info["task"] == "addition"
        assert (info["max_len"], info["num_layers"], info["num_heads"]) == (64, 2, 2)


def test_solve_gives_what_solve_math_problem_gives(client, models):
    out = solve(client, max_new_tokens=10)
    assert out.status_code == 200, out.text
    body = out.json()
    direct = solve_math_problem(PROBLEM, models[0].loaded, max_new_tokens=10)
    assert body["completion"] == direct["completion"] and body["answer"] == direct["answer"]
    assert body["completion_tokens"] == len(direct["completion_token_ids"])
    assert body["prompt_tokens"] == len(direct["prompt_token_ids"])
    assert body["completion_token_ids"] == direct["completion_token_ids"]
    assert body["finished"] == direct["finished"] and body["latency_ms"] > 0 and body["model"] == "rope"


def test_without_a_budget_the_model_gets_what_its_positions_leave(client):
    body = solve(client).json()
    assert body["completion_tokens"] <= 64 - body["prompt_tokens"]


def test_requests_sent_together_share_a_batch_and_keep_their_answers(app, models):
    problems = [f"{a}+{b}=" for a, b in [(1, 2), (34, 5), (678, 90), (5, 5), (12, 3), (99, 999)]]
    alone = [solve_math_problem(p, models[1].loaded, max_new_tokens=12)["completion"] for p in problems]

    async def together():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
            return await asyncio.gather(*(
                c.post("/solve", json={"problem": p, "model": "nope", "max_new_tokens": 12}) for p in problems
            ))

    bodies = [r.json() for r in asyncio.run(together())]
    assert [b["completion"] for b in bodies] == alone
    assert max(b["batch_size"] for b in bodies) > 1


def test_new_prompt_lengths_within_a_bucket_compile_nothing_new(client):
    solve(client, problem="1+2=", max_new_tokens=5)
    before = decode._generate._cache_size()
    shapes = client.get("/health").json()["models"]["rope"]["compiled_shapes"]
    for problem, budget in [("123+4=", 6), ("12345+6789=", 7), ("9+9=", 8)]:
        assert solve(client, problem=problem, max_new_tokens=budget).status_code == 200
    assert decode._generate._cache_size() == before
    assert client.get("/health").json()["models"]["rope"]["compiled_shapes"] == shapes


def test_compare_solves_with_every_model_and_grades_against_gold(client):
    body = client.post("/compare", json={"problem": PROBLEM, "gold": "64"}).json()
    assert [r["model"] for r in body["results"]] == ["rope", "nope"]
    assert all(isinstance(r["correct"], bool) for r in body["results"])
    only = client.post("/compare", json={"problem": PROBLEM, "models": ["nope"]}).json()
    assert [r["model"] for r in only["results"]] == ["nope"] and only["results"][0]["correct"] is None
    assert body["refused"] == only["refused"] == []


@pytest.mark.slow
def test_compare_answers_with_the_models_that_can_take_the_problem():
    short = tiny_served("short", "rope", **{"model.max_len": 16})
    with local_client(create_app([tiny_served("long", "rope"), short], Settings(max_wait_s=0.0))) as c:
        problem = "1234567+7654321="  # 17 prompt tokens with BOS: more than the short model's positions
        body = c.post("/compare", json={"problem": problem, "max_new_tokens": 4}).json()
        assert [r["model"] for r in body["results"]] == ["long"]
        assert body["refused"] == [{"model": "short", "field": "problem",
                                    "error": "model 'short': the prompt has 17 tokens; the model has 16 positions"}]
        alone = c.post("/compare", json={"problem": problem, "models": ["short"]})
        assert alone.status_code == 422 and alone.json()["field"] == "problem"


@pytest.mark.parametrize("gold,correct", [("97", True), ("970", True), ("79", False), ("097", False)])
def test_compare_grades_with_the_tasks_own_verdict(gold, correct):
    # Numbers are written least significant digit first: "43+54=" is 34+45, whose sum 79 is written
    # "97"; the gold "970" reads back as 079 = 79 (right), "097" as 790 (wrong).
    with local_client(fixed_answer_app("97")) as c:
        (result,) = c.post("/compare", json={"problem": "43+54=", "gold": gold}).json()["results"]
    assert result["completion"] == "97" and result["answer"] == "97" and result["finished"] is True
    assert result["correct"] is correct


def test_examples_come_from_the_datasets_and_the_models_tasks(client, models):
    sources = {s["id"]: s for s in client.get("/examples").json()["sources"]}
    assert {"gsm8k", "math", "rope", "nope"} <= set(sources)
    assert sources["rope"]["models"] == ["rope", "nope"]
    assert sources["gsm8k"]["models"] == []  # a digit vocabulary cannot read a word problem
    gsm8k = client.get("/examples/gsm8k", params={"count": 3}).json()["examples"]
    assert len(gsm8k) == 3 and gsm8k[0]["label"] == "gsm8k/test/0" and gsm8k[0]["gold"] == "18"
    synthetic = client.get("/examples/rope", params={"count": 50}).json()["examples"]
    task = models[0].loaded.task
    first = task.test_examples(1, 1)[0]
    assert synthetic[0] == {"problem": first.prompt, "gold": first.answer, "label": "length 1"}
    assert {e["label"] for e in synthetic} == {"length 1", "length 2", "length 3"}


def test_attention_returns_one_layer_and_heads_probabilities(client):
    body = client.post("/attention", json={"problem": PROBLEM, "model": "rope", "completion": "64", "layer": 1, "head": 1}).json()
    assert body["tokens"] == ["<bos>", *"12+34=64"] and body["first_token"] == 0
    weights = body["weights"]
    assert len(weights) == len(body["tokens"]) and all(len(row) == len(weights) for row in weights)
    for i, row in enumerate(weights):
        assert sum(row) == pytest.approx(1.0, abs=1e-4)  # each query's probabilities
        assert all(w == 0 for w in row[i + 1 :])  # causal: nothing from later tokens


def test_attention_over_the_generated_ids_themselves(client):
    solved = solve(client, max_new_tokens=6).json()
    ids = solved["completion_token_ids"]
    body = client.post("/attention", json={"problem": PROBLEM, "model": "rope", "completion_token_ids": ids}).json()
    assert len(body["tokens"]) == solved["prompt_tokens"] + len(ids)
    assert body["tokens"][-1] == ("<eos>" if solved["finished"] else body["tokens"][-1])


def test_health_reports_each_queue(client):
    solve(client, max_new_tokens=3)
    health = client.get("/health").json()
    assert health["status"] == "ok" and set(health["models"]) == {"rope", "nope"}
    assert health["models"]["rope"]["requests"] >= 1 and health["models"]["rope"]["pending"] == 0


def test_openapi_schema_names_the_served_models_and_the_error_body(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/solve", "/compare", "/attention", "/models", "/health", "/examples", "/examples/{source}"}
    solve_body = schema["paths"]["/solve"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    model_field = schema["components"]["schemas"][solve_body.rsplit("/", 1)[1]]["properties"]["model"]
    assert model_field["enum"] == ["rope", "nope"]
    assert {"400", "413", "422", "429"} <= set(schema["paths"]["/solve"]["post"]["responses"])


BAD_SOLVES = [
    ({"problem": "", "model": "rope"}, "problem", "at least 1 character"),
    ({"problem": "   ", "model": "rope"}, "problem", "should match pattern"),
    ({"problem": "1" * 20_001, "model": "rope"}, "body", "more than 4096 bytes"),
    ({"problem": "abc", "model": "rope"}, "problem", "character 'a' is not in the tokenizer alphabet"),
    ({"problem": "1" * 70, "model": "rope"}, "problem", "the prompt has 71 tokens; the model has 64 positions"),
    ({"problem": PROBLEM, "model": "gpt"}, "model", "Input should be 'rope' or 'nope' (got 'gpt')"),
    ({"problem": PROBLEM}, "model", "Field required"),
    ({"model": "rope"}, "problem", "Field required"),
    ({"problem": PROBLEM, "model": "rope", "max_new_tokens": 0}, "max_new_tokens", "greater than or equal to 1"),
    ({"problem": PROBLEM, "model": "rope", "max_new_tokens": 65}, "max_new_tokens", "less than or equal to 64"),
    ({"problem": PROBLEM, "model": "rope", "max_new_tokens": 60}, "max_new_tokens", "exceeds the model's 64 positions"),
    ({"problem": PROBLEM, "model": "rope", "max_new_tokens": "5"}, "max_new_tokens", "valid integer (got '5')"),
    ({"problem": PROBLEM, "model": "rope", "max_new_tokens": 5.5}, "max_new_tokens", "valid integer"),
    ({"problem": 12, "model": "rope"}, "problem", "valid string"),
    ({"problem": PROBLEM, "model": "rope", "template": "fancy"}, "template", "(got 'fancy')"),
    ({"problem": PROBLEM, "model": "rope", "template": "chat"}, "template", "needs a Hugging Face tokenizer with a chat template"),
    ({"problem": PROBLEM, "model": "rope", "temperature": 0.7}, "temperature", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize("body,field,message", BAD_SOLVES)
def test_bad_solve_requests_name_the_field(client, body, field, message):
    out = client.post("/solve", json=body)
    assert 400 <= out.status_code < 500, out.text
    error = out.json()
    assert error["field"] == field and message in error["error"], error
    assert "\n" not in error["error"]


@pytest.mark.parametrize(
    "send,status,field,message",
    [
        ({"content": b'{"problem": "1+1=", ', "headers": {"content-type": "application/json"}}, 400, "body", "malformed JSON"),
        ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 422, "body", "valid dictionary"),
        ({"content": b'{"problem": "1+1=", "model": "rope"}', "headers": {"content-type": "text/plain"}}, 422, "body",
         "Content-Type: application/json"),
        ({}, 422, "body", "the request needs a JSON object body"),
        ({"content": b"{" + b" " * 5000 + b"}", "headers": {"content-type": "application/json"}}, 413, "body", "more than 4096"),
    ],
)
def test_malformed_bodies_are_refused_in_one_line(client, send, status, field, message):
    out = client.post("/solve", **send)
    assert out.status_code == status
    assert out.json()["field"] == field and message in out.json()["error"]


def test_a_streamed_body_over_the_cap_is_refused_while_it_arrives(client):
    out = client.post("/solve", content=iter([b'{"problem": "', b"1" * 3000, b"2" * 3000, b'"}']),
                      headers={"content-type": "application/json"})
    assert out.status_code == 413 and out.json()["field"] == "body"


@pytest.mark.parametrize(
    "path,body,field,message",
    [
        ("/compare", {"problem": PROBLEM, "models": []}, "models", "at least 1 item"),
        ("/compare", {"problem": PROBLEM, "models": ["rope", "rope"]}, "models", "lists a model twice"),
        ("/compare", {"problem": PROBLEM, "models": ["rope", "bert"]}, "models.1", "'rope' or 'nope'"),
        ("/compare", {"problem": PROBLEM, "gold": ""}, "gold", "at least 1 character"),
        ("/compare", {"problem": PROBLEM, "max_new_tokens": 60}, "max_new_tokens", "exceeds the model's 64 positions"),
        ("/attention", {"problem": PROBLEM, "model": "rope", "layer": 2}, "layer", "layer=2 is out of range"),
        ("/attention", {"problem": PROBLEM, "model": "rope", "head": 7}, "head", "head=7 is out of range"),
        ("/attention", {"problem": PROBLEM, "model": "rope", "completion": "x"}, "completion", "character 'x'"),
        ("/attention", {"problem": PROBLEM, "model": "rope", "completion": "1" * 60}, "completion", "exceed its 64 positions"),
        ("/attention", {"problem": PROBLEM, "model": "rope", "completion_token_ids": [3, 999]}, "completion_token_ids",
         "token id 999 is outside the vocabulary of model 'rope' (20 ids)"),
        ("/attention", {"problem": PROBLEM, "model": "rope", "completion_token_ids": ["1"]}, "completion_token_ids.0",
         "valid integer"),
    ],
)
def test_bad_compare_and_attention_requests_name_the_field(client, path, body, field, message):
    out = client.post(path, json=body)
    assert out.status_code == 422, out.text
    assert out.json()["field"] == field and message in out.json()["error"]


def test_unknown_routes_sources_and_counts_are_json_errors(client):
    assert client.get("/nowhere").json() == {"error": "Not Found", "field": None}
    assert client.get("/solve").status_code == 405
    missing = client.get("/examples/aime")
    assert missing.status_code == 404 and missing.json()["field"] == "source" and "'aime'" in missing.json()["error"]
    many = client.get("/examples/gsm8k", params={"count": 51})
    assert many.status_code == 422 and many.json()["field"] == "count"


def test_a_failing_model_fails_only_its_own_requests(app, models):
    def out_of_memory(*args):
        raise RuntimeError("out of memory")

    queue = models[0].queue
    decode_fn, queue._decode = queue._decode, out_of_memory
    try:
        c = local_client(app, raise_server_exceptions=False)  # no lifespan: the module's queues stay up
        broken = solve(c, max_new_tokens=4)
        other = c.post("/solve", json={"problem": PROBLEM, "model": "nope", "max_new_tokens": 4})
    finally:
        queue._decode = decode_fn
    assert broken.status_code == 500 and broken.json() == {"error": "internal error: RuntimeError: out of memory", "field": None}
    assert other.status_code == 200


def test_the_server_shuts_down_and_serves_again(models):
    app = create_app(models[:1], Settings(max_wait_s=0.0))
    for _ in range(2):
        with local_client(app) as c:
            assert solve(c, max_new_tokens=2).status_code == 200
        assert models[0].queue is None  # stopped with the server
    json.dumps(models[0].info)
