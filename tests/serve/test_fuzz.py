"""Schema-driven fuzzing of the API (schemathesis on its own OpenAPI schema): requests that fit the
schema and requests that break it; no response may be a 5xx, every response must match the schema
(status code, content type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode

from mathpe_jax.serve import Settings, create_app
from tests.serve.conftest import tiny_served

pytestmark = pytest.mark.slow  # every endpoint's cases: schemathesis's items do not all carry a decorator's mark


@pytest.fixture(scope="module")
def api_schema():
    # schemathesis names the server "testserver" in every request's Host.
    settings = Settings(max_wait_s=0.0, allowed_hosts=("testserver",))
    app = create_app([tiny_served("rope", "rope"), tiny_served("t5", "t5")], settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


# Derandomized: every run sends the same requests, so a failure reproduces and the shapes that
# decoding compiles (the cost of this test) do not vary from run to run.
@schema.parametrize()
@settings(max_examples=10, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_within_its_schema(case):
    case.call_and_validate(
        timeout=300,  # a new shape compiles, on a busy machine
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_schema_conformance,
        ]
    )
