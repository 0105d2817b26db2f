"""The HTTP API and the demo page: ``create_app(models, settings)`` gives an ASGI app.

Routes: ``POST /solve``, ``POST /compare``, ``POST /attention``, ``GET /models``, ``GET /health``,
``GET /examples``, ``GET /examples/{source}``, and the demo at ``/``. Every refused request gets a
4xx or 503 JSON body ``{"error", "field"}`` naming the field at fault (``ErrorResponse``); decoding
runs in each model's own thread (``batcher``), so the event loop only parses, validates and routes.

Before any route, in this order: the ``Host`` allow-list (``hosts``), the bearer token when one is
set (``auth``), the 503 of a server shutting down (``drain``; ``app.state.drain``), the body cap
(``limits``). No answer shows an absolute path (``redact``).

No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations at runtime,
and the request models are built per server (their model-name enum).
"""

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from mathpe_jax.serve.auth import BearerToken
from mathpe_jax.serve.batcher import QueueFull, ShuttingDown
from mathpe_jax.serve.drain import Drain, RefuseWhileDraining, unavailable
from mathpe_jax.serve.errors import RequestError, error_response
from mathpe_jax.serve.examples import MAX_EXAMPLES, ExampleBook
from mathpe_jax.serve.hosts import LOOPBACK_HOSTS, HostAllowList
from mathpe_jax.serve.limits import BodySizeLimit
from mathpe_jax.serve.models import ServedModel
from mathpe_jax.serve.redact import redact_paths
from mathpe_jax.serve.schemas import (
    AttentionResponse,
    CompareResponse,
    ErrorResponse,
    ExamplesResponse,
    Health,
    ModelsResponse,
    RequestModels,
    SolveResponse,
    SourcesResponse,
)

__all__ = ["Settings", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How requests are batched, bounded and let in. ``max_batch=1`` decodes one request at a
    time; ``token`` (``None``: none needed) is the bearer token; ``allowed_hosts`` the names a
    request's ``Host`` may give (see ``hosts``)."""

    max_batch: int = 32
    max_wait_s: float = 0.01
    max_pending: int = 1024
    max_request_bytes: int = 256 * 1024
    max_new_tokens_limit: int = 1024
    token: str | None = dataclasses.field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS


def create_app(models: Sequence[ServedModel], settings: Settings = Settings()) -> FastAPI:
    """The API over ``models`` (each started here; stopped when the app shuts down)."""
    served = {m.name: m for m in models}
    if not served:
        raise ValueError("no model to serve")

    def start() -> None:
        for m in models:
            if m.queue is None:
                m.start(max_batch=settings.max_batch, max_wait_s=settings.max_wait_s, max_pending=settings.max_pending)

    start()  # here, not only at start-up: an app driven without its lifespan still decodes
    drain = Drain(models)
    book = ExampleBook(models)
    bodies = RequestModels(list(served), settings.max_new_tokens_limit)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        start()  # again after a shutdown, when the same app is served anew
        drain.draining = False
        yield
        for m in models:
            m.stop()

    app = FastAPI(
        title="mathpe_jax",
        summary="Greedy solutions of math problems by models that differ in their positional encoding.",
        version="1",
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    app.state.drain = drain
    # Every route: a foreign Host (400), a missing token (401, when one is set), shutting down (503).
    let_in = _documented(400, 401, 503) if settings.token else _documented(400, 503)
    decoding = {**let_in, **_documented(413, 422, 429)}

    async def solve_one(model: ServedModel, prompt: list[int], budget: int, started: float) -> dict[str, Any]:
        try:
            decoded = await model.queue.generate(prompt, budget)
        except QueueFull as err:
            raise RequestError(None, str(err), 429) from None
        return {
            "model": model.name,
            **model.read(decoded.ids),
            "completion_token_ids": decoded.ids,
            "prompt_tokens": len(prompt),
            "completion_tokens": len(decoded.ids),
            "latency_ms": (time.perf_counter() - started) * 1e3,
            "batch_size": decoded.batch_size,
        }

    @app.post("/solve", response_model=SolveResponse, responses=decoding)
    async def solve(body: bodies.solve) -> dict[str, Any]:  # type: ignore[valid-type]
        """Greedy solution of one problem by one model, decoded together with concurrent requests."""
        started = time.perf_counter()
        model = served[body.model]
        problem = body.problem.strip()
        prompt = model.prompt(problem, body.template)
        return await solve_one(model, prompt, model.budget(len(prompt), body.max_new_tokens), started)

    @app.post("/compare", response_model=CompareResponse, responses=decoding)
    async def compare(body: bodies.compare) -> dict[str, Any]:  # type: ignore[valid-type]
        """The same problem solved by several models at once; graded when ``gold`` is given."""
        started = time.perf_counter()
        names = body.models or list(served)
        if len(set(names)) != len(names):
            raise RequestError("models", f"models lists a model twice: {names}")
        problem = body.problem.strip()
        chosen, refused = [], []  # (model, prompt, budget); every refusal before any decoding
        for name in names:
            model = served[name]
            try:
                prompt = model.prompt(problem, body.template)
                chosen.append((model, prompt, model.budget(len(prompt), body.max_new_tokens)))
            except RequestError as err:
                refused.append({"model": name, "error": redact_paths(err.message), "field": err.field})
        if not chosen:
            first = refused[0]
            more = f" (and {len(refused) - 1} more models)" if len(refused) > 1 else ""
            raise RequestError(first["field"], first["error"] + more)
        results = await asyncio.gather(*(solve_one(m, p, b, started) for m, p, b in chosen))
        verdicts = [None] * len(results)
        if body.gold is not None:
            verdicts = await asyncio.gather(*(
                asyncio.to_thread(m.grade, problem, body.template, r, r["completion_tokens"], body.gold.strip())
                for (m, _, _), r in zip(chosen, results)
            ))
        for result, correct in zip(results, verdicts):
            result["correct"] = correct
        return {"problem": problem, "gold": body.gold, "results": results, "refused": refused}

    @app.post("/attention", response_model=AttentionResponse, responses=decoding)
    async def attention(body: bodies.attention) -> dict[str, Any]:  # type: ignore[valid-type]
        """One layer's and head's attention over the prompt and a completion, for a heatmap."""
        model = served[body.model]
        completion = body.completion if body.completion_token_ids is None else body.completion_token_ids
        return await asyncio.to_thread(
            model.attention, body.problem.strip(), completion, body.template, body.layer, body.head
        )

    @app.get("/models", response_model=ModelsResponse, responses=let_in)
    async def list_models() -> dict[str, Any]:
        """The served models: name, PE, parameter count, source and task."""
        return {"models": [m.info for m in models]}

    @app.get("/health", response_model=Health, responses=_documented(400, 503))
    async def health() -> dict[str, Any]:
        """Liveness, with each model's queue: requests, batches, waiting, compiled shapes."""
        return {"status": "ok", "models": {m.name: _queue_stats(m) for m in models}}

    @app.get("/examples", response_model=SourcesResponse, responses=let_in)
    async def example_sources() -> dict[str, Any]:
        """Where example problems come from: GSM8K and MATH test sets, each synthetic model's task."""
        return {"sources": book.sources()}

    @app.get("/examples/{source}", response_model=ExamplesResponse, responses={**let_in, **_documented(404, 422)})
    async def examples(source: str, count: int = Query(10, ge=1, le=MAX_EXAMPLES)) -> dict[str, Any]:
        """Example problems of one source, with their gold answers."""
        return {"source": source, "examples": book.examples(source, count)}

    @app.get("/", include_in_schema=False)
    async def demo() -> FileResponse:
        return FileResponse(STATIC_DIR / "demo.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The last added runs first: Host, then the token, then shutting down, then the body cap.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RefuseWhileDraining, drain=drain)
    if settings.token:
        app.add_middleware(BearerToken, token=settings.token)
    app.add_middleware(HostAllowList, allowed=settings.allowed_hosts)
    return app


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for refusals with these statuses, each an ``ErrorResponse``."""
    return {status: {"model": ErrorResponse} for status in statuses}


def _queue_stats(model: ServedModel) -> dict[str, Any]:
    queue = model.queue
    return {
        "requests": queue.requests,
        "batches": queue.batches,
        "largest_batch": queue.largest_batch,
        "pending": queue.pending,
        "compiled_shapes": [list(shape) for shape in sorted(queue.shapes)],
    }


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(_request: Request, err: RequestError) -> JSONResponse:
        return error_response(err.status, err.message, err.field)

    @app.exception_handler(ShuttingDown)
    async def shutting_down(_request: Request, err: ShuttingDown) -> JSONResponse:
        return unavailable(f"{err}; the request was not run: send it again later")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        return error_response(*_describe(err.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException) -> JSONResponse:
        return error_response(err.status_code, str(err.detail), None)

    @app.exception_handler(Exception)
    async def crashed(_request: Request, err: Exception) -> JSONResponse:
        log.exception("request failed")
        return error_response(500, f"internal error: {type(err).__name__}: {err}", None)


def _describe(errors: Sequence[dict[str, Any]]) -> tuple[int, str, str | None]:
    """Status, one-line message and field of pydantic's validation errors (the first one named)."""
    first = errors[0]
    where, *path = first["loc"]
    if first["type"] == "json_invalid":
        return 400, f"malformed JSON: {first.get('ctx', {}).get('error', first['msg'])}", "body"
    field = ".".join(str(part) for part in path) or where
    if not path and (first["type"] == "missing" or isinstance(first.get("input"), (bytes, str))):
        message = "the request needs a JSON object body (Content-Type: application/json)"
    else:
        message = f"{field}: {first['msg']}"
        if first["type"] != "missing" and "input" in first:
            message += f" (got {_short(first['input'])})"
    if len(errors) > 1:
        message += f"; and {len(errors) - 1} more"
    return 422, message, field


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
