"""The one error a request can cause (which field is wrong, why, and the HTTP status), and the JSON
body every refusal gets: ``{"error": message, "field": field}``, with no absolute path in it."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from mathpe_jax.serve.redact import redact_paths

__all__ = ["RequestError", "error_response"]


class RequestError(Exception):
    """A request the server refuses; the API answers ``{"error": message, "field": field}``."""

    def __init__(self, field: str | None, message: str, status: int = 422):
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def error_response(status: int, message: str, field: str | None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON refusal (also an ASGI app, for middleware); paths in ``message`` are cut
    (``redact``), since messages may quote exceptions raised by files and tokenizers."""
    return JSONResponse({"error": redact_paths(message), "field": field}, status_code=status, headers=headers)
