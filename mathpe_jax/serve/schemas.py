"""The API's request and response bodies, as pydantic models, and so its OpenAPI schema.

Request models are strict (a string is not a number) and forbid unknown fields (a misspelt field
is an error, not silently ignored). The model names are an enum of the served models, built per
server by ``request_models``, so the schema says exactly which names are accepted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mathpe_jax.data.prompts import TEMPLATES
from mathpe_jax.solve import MAX_PROBLEM_CHARS

__all__ = [
    "AttentionResponse", "CompareResponse", "CompareResult", "ErrorResponse", "Example", "ExampleSource",
    "ExamplesResponse", "Health", "ModelInfo", "ModelsResponse", "QueueStats", "Refusal", "RequestModels", "SolveResponse",
    "SourcesResponse",
]

MAX_GOLD_CHARS = 1000
Template = Literal[tuple(sorted(TEMPLATES))]  # type: ignore[valid-type]
# Some non-space character: a problem of blanks is empty.
_PROBLEM = Field(min_length=1, max_length=MAX_PROBLEM_CHARS, pattern=r"\S", description="the problem text")


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class RequestModels:
    """The request bodies of one server: ``solve``, ``compare`` and ``attention``."""

    def __init__(self, names: list[str], max_new_tokens_limit: int):
        Name = Literal[tuple(names)]  # type: ignore[valid-type]
        budget = Field(
            None, ge=1, le=max_new_tokens_limit,
            description="tokens to generate at most (default: 256, or what the model's positions leave)",
        )

        class SolveRequest(_Request):
            problem: str = _PROBLEM
            model: Name = Field(description="a served model's name")  # type: ignore[valid-type]
            max_new_tokens: int | None = budget
            template: Template | None = Field(None, description="prompt template (default: the model's own)")  # type: ignore[valid-type]

        class CompareRequest(_Request):
            problem: str = _PROBLEM
            models: list[Name] | None = Field(  # type: ignore[valid-type]
                None, min_length=1, max_length=len(names), description="the models to compare (default: all)"
            )
            gold: str | None = Field(None, min_length=1, max_length=MAX_GOLD_CHARS, description="the gold final answer")
            max_new_tokens: int | None = budget
            template: Template | None = None  # type: ignore[valid-type]

        class AttentionRequest(_Request):
            problem: str = _PROBLEM
            model: Name  # type: ignore[valid-type]
            completion: str = Field("", max_length=MAX_PROBLEM_CHARS, description="text after the prompt")
            completion_token_ids: list[int] | None = Field(
                None, max_length=max_new_tokens_limit,
                description="the generated ids after the prompt (as /solve returns them); exact, unlike re-encoded text",
            )
            template: Template | None = None  # type: ignore[valid-type]
            layer: int = Field(0, ge=0, le=1024)
            head: int = Field(0, ge=0, le=1024)

        self.solve = SolveRequest
        self.compare = CompareRequest
        self.attention = AttentionRequest


class ErrorResponse(BaseModel):
    error: str = Field(description="what is wrong, in one line")
    field: str | None = Field(description="the request field at fault (dotted), or null")


class SolveResponse(BaseModel):
    model: str
    completion: str
    answer: str | None
    prompt_tokens: int
    completion_tokens: int
    completion_token_ids: list[int] = Field(description="the generated ids, EOS included when it ended")
    finished: bool = Field(description="the completion ended with EOS (not cut by the budget)")
    latency_ms: float = Field(description="from the request's arrival to its answer")
    batch_size: int = Field(description="requests decoded together with this one")


class CompareResult(SolveResponse):
    correct: bool | None = Field(description="graded against gold by the model's task; null without gold")


class Refusal(BaseModel):
    model: str
    error: str
    field: str | None


class CompareResponse(BaseModel):
    problem: str
    gold: str | None
    results: list[CompareResult]
    refused: list[Refusal] = Field(description="models that cannot take this problem (its tokenizer, its positions)")


class ModelInfo(BaseModel):
    name: str
    pe: str
    parameters: int
    source: str
    task: str
    template: str
    max_len: int
    num_layers: int
    num_heads: int
    attention_maps: bool


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class QueueStats(BaseModel):
    requests: int
    batches: int
    largest_batch: int
    pending: int
    compiled_shapes: list[list[int]] = Field(description="(rows, prompt_len, budget) buckets decoded so far")


class Health(BaseModel):
    status: Literal["ok"]
    models: dict[str, QueueStats]


class ExampleSource(BaseModel):
    id: str
    label: str
    models: list[str] = Field(description="the served models whose prompt accepts this source's problems")


class SourcesResponse(BaseModel):
    sources: list[ExampleSource]


class Example(BaseModel):
    problem: str
    gold: str
    label: str


class ExamplesResponse(BaseModel):
    source: str
    examples: list[Example]


class AttentionResponse(BaseModel):
    model: str
    layer: int
    head: int
    first_token: int = Field(description="index of the first token shown (long sequences show their tail)")
    tokens: list[str]
    weights: list[list[float]] = Field(description="[query][key] attention probabilities")
