"""The one error a request can cause: which field is wrong, why, and the HTTP status."""

from __future__ import annotations


class RequestError(Exception):
    """A request the server refuses; the API answers ``{"error": message, "field": field}``."""

    def __init__(self, field: str | None, message: str, status: int = 422):
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
