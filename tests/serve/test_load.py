"""A bounded load test on loopback: a real uvicorn server, 64 concurrent clients over two models.

Every request must succeed with the answer the model gives it alone; under load, requests share
batches; routes that do not decode keep answering while the models are busy.
"""

from __future__ import annotations

import asyncio

import httpx

from mathpe_jax.solve import solve_math_problem

REQUESTS = 64
BUDGET = 8


def problems(n: int) -> list[str]:
    return [f"{i % 97}+{(7 * i) % 89}=" for i in range(n)]


def test_concurrent_clients_all_get_their_own_answers_in_shared_batches(live_server, served_models):
    by_name = {m.name: m for m in served_models}
    jobs = [(p, served_models[i % 2].name) for i, p in enumerate(problems(REQUESTS))]
    expected = {
        (p, name): solve_math_problem(p, by_name[name].loaded, max_new_tokens=BUDGET)["completion"]
        for p, name in set(jobs)
    }

    async def load():
        limits = httpx.Limits(max_connections=REQUESTS + 8)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=300, limits=limits) as client:
            solves = [
                client.post("/solve", json={"problem": p, "model": name, "max_new_tokens": BUDGET}) for p, name in jobs
            ]
            # Routes that do not decode answer while decoding is under way.
            side = [client.get("/health"), client.get("/models"), client.get("/examples")]
            return await asyncio.gather(*solves), await asyncio.gather(*side)

    responses, side = asyncio.run(load())
    assert [r.status_code for r in responses] == [200] * REQUESTS
    assert all(r.status_code == 200 for r in side)
    bodies = [r.json() for r in responses]
    assert [b["completion"] for b in bodies] == [expected[job] for job in jobs]
    assert max(b["batch_size"] for b in bodies) > 1
    health = httpx.get(f"{live_server.url}/health").json()["models"]
    assert sum(q["requests"] for q in health.values()) >= REQUESTS
    assert all(q["pending"] == 0 for q in health.values())
    assert max(q["largest_batch"] for q in health.values()) <= 16  # the server's max_batch
