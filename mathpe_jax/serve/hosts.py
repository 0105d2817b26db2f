"""The ``Host`` header allow-list: a request must name this server, which defeats DNS rebinding.

A web page on any site can make a browser send requests to a name its author controls and then
point that name at 127.0.0.1; the browser treats the answers as the attacker's own origin and lets
the page read them. Such a request still carries the attacker's name in ``Host``, so answering only
the names this server is reached by (the address it binds, the loopback names, and what
``--allowed_hosts`` adds) refuses it. The port is not compared: an SSH tunnel may forward any
local port to the server's.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from mathpe_jax.serve.errors import error_response

__all__ = ["LOOPBACK_HOSTS", "HostAllowList", "allowed_hosts", "host_name", "normalize_host"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def normalize_host(name: str) -> str:
    """``name`` as ``host_name`` gives it (lower case, IPv6 in brackets, no trailing dot); a
    ``ValueError`` naming ``name`` when it is not a bare host name or address."""
    host = name.strip().lower().rstrip(".")
    if host.count(":") >= 2 and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address, written as it appears in a Host header
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not bare or any(c in bare for c in "/ []@?#\\") or (":" in bare and not host.startswith("[")):
        raise ValueError(f"{name!r} is not a host name or address (give it without scheme, port or path)")
    return host


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The names a server bound to ``bound`` answers to: ``bound``, the loopback names, ``extra``."""
    names = [normalize_host(bound), *LOOPBACK_HOSTS, *(normalize_host(name) for name in extra)]
    return tuple(dict.fromkeys(names))


def host_name(header: str) -> str:
    """The host of a ``Host`` header, port dropped: ``[::1]:8000`` -> ``[::1]``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.partition(":")[0].rstrip(".")


class HostAllowList:
    """ASGI middleware: a request whose ``Host`` names none of ``allowed`` gets 400."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        self.allowed = frozenset(normalize_host(name) for name in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.allowed:
                message = (
                    f"Host {header[:80]!r} is not a name of this server (start it with --allowed_hosts=NAME to add one)"
                    if header else "the request has no Host header; this server answers only requests that name it"
                )
                await error_response(400, message, "Host")(scope, receive, send)
                return
        await self.app(scope, receive, send)
