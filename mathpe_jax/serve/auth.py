"""An optional bearer token: on a shared host every user reaches 127.0.0.1, so binding to loopback
keeps out the network but not the other users of a login node; a token only its owner can read does.

The token comes from ``--token_file`` (a file only its owner may read, so other users cannot read
it either) or the ``MATHPE_SERVE_TOKEN`` environment variable. With a token, every request needs
``Authorization: Bearer <token>`` except ``/health`` and the demo page's own files (``/``,
``/static/...``): those are fixed files of this package, and the page asks for the token before it
calls the API. The comparison takes the same time whatever the guess (``hmac.compare_digest``).
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from mathpe_jax.errors import UserError
from mathpe_jax.serve.errors import error_response

__all__ = ["MIN_TOKEN_CHARS", "TOKEN_ENV", "BearerToken", "TokenError", "is_public", "read_token"]

TOKEN_ENV = "MATHPE_SERVE_TOKEN"
# Loopback answers thousands of guesses a second: a short token would be found.
MIN_TOKEN_CHARS = 16
MAKE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class TokenError(UserError):
    """A token that cannot be used, named by where it came from (the file or the variable)."""


def read_token(token_file: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The token of ``token_file`` or of ``TOKEN_ENV`` in ``environ`` (``None``: neither is given).

    Refuses (``TokenError``) a file that is missing, not a file, readable by group or others, or
    empty; a token given both ways; and a token shorter than ``MIN_TOKEN_CHARS`` or holding
    anything but visible ASCII. No message shows the token.
    """
    from_env = environ.get(TOKEN_ENV)
    if token_file is not None and from_env is not None:
        raise TokenError(f"the token is given twice, by --token_file={token_file} and by {TOKEN_ENV}: give one")
    if token_file is not None:
        return _check(_read_private_file(token_file), f"--token_file={token_file}")
    if from_env is not None:
        return _check(from_env, TOKEN_ENV)
    return None


def _read_private_file(token_file: str) -> str:
    where = f"--token_file={token_file}"
    path = Path(token_file).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise TokenError(f"{where}: no such file") from None
    except OSError as err:
        raise TokenError(f"{where}: cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(mode):
        raise TokenError(f"{where}: not a regular file")
    readers = [who for who, bit in (("group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit]
    if readers:
        raise TokenError(
            f"{where}: readable by {' and '.join(readers)} (mode {stat.S_IMODE(mode):04o}); "
            f"only its owner may read it: chmod 600 {token_file}"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TokenError(f"{where}: cannot be read ({getattr(err, 'strerror', None) or type(err).__name__})") from None


def _check(text: str, where: str) -> str:
    token = text.strip()
    if not token:
        raise TokenError(f"{where}: the {'file' if where.startswith('--') else 'variable'} is empty")
    if not all("!" <= c <= "~" for c in token):
        raise TokenError(f"{where}: the token may hold visible ASCII characters only (no spaces, one line)")
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(f"{where}: the token has {len(token)} characters, fewer than {MIN_TOKEN_CHARS}; make one with {MAKE_TOKEN}")
    return token


def is_public(path: str) -> bool:
    """Whether ``path`` is served without the token: liveness and the demo page's own files."""
    return path in ("/", "/health") or path.startswith("/static/")


class BearerToken:
    """ASGI middleware: without ``Authorization: Bearer <token>``, 401 (``WWW-Authenticate: Bearer``)."""

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self._token = token.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_public(scope["path"]):
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, given = header.partition(b" ")
            if scheme.lower() != b"bearer" or not given.strip():
                message = "this server needs a token: send the header Authorization: Bearer <token>"
                await error_response(401, message, "Authorization", {"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
            if not hmac.compare_digest(given.strip(), self._token):
                await error_response(
                    401, "the bearer token is wrong", "Authorization", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)
