"""``python -m mathpe_jax.serve --model rope=RUN_DIR --model nope=RUN_DIR2 [--host] [--port] [--token_file]``.

Each ``--model NAME=SOURCE`` is a run directory, a converted checkpoint, a Hugging Face directory
or hub id, or an adapter (its base with ``--base NAME=BASE`` unless a PEFT adapter names it). The
server binds to 127.0.0.1 unless ``--host`` says otherwise; the demo is at ``/``, the API's
interactive documentation at ``/docs`` and its schema at ``/openapi.json``.

Every user of a host reaches its 127.0.0.1, so on a shared login node give a token
(``--token_file`` or ``MATHPE_SERVE_TOKEN``, see ``auth``); without one the server says so once
on start. Requests must name the server in ``Host`` (``hosts``). SIGTERM or Ctrl+C stops it
gracefully, within ``--grace_seconds`` (``server``), with exit status 0.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence

from absl import flags

from mathpe_jax import cli
from mathpe_jax.errors import UserError
from mathpe_jax.serve.auth import TOKEN_ENV, read_token
from mathpe_jax.serve.hosts import allowed_hosts, normalize_host

FLAGS = cli.tool_flags()
flags.DEFINE_multi_string("model", [], "NAME=SOURCE: a model to serve (repeat for more)", flag_values=FLAGS)
flags.DEFINE_multi_string("base", [], "NAME=BASE: the base model of the adapter served as NAME", flag_values=FLAGS)
flags.DEFINE_string("host", "127.0.0.1", "address to bind (0.0.0.0 exposes the server to the network)",
                    flag_values=FLAGS)
flags.DEFINE_integer("port", 8000, "port to bind (0: any free port, printed when ready)", flag_values=FLAGS)
flags.DEFINE_integer("max_batch", 32, "most requests decoded together per model (1: one at a time)", lower_bound=1,
                     flag_values=FLAGS)
flags.DEFINE_float("max_wait_ms", 10.0, "a batch closes when no request has come for this long (or after 10 times it)",
                   lower_bound=0, flag_values=FLAGS)
flags.DEFINE_integer("max_pending", 1024, "requests waiting per model before new ones get 429", lower_bound=1,
                     flag_values=FLAGS)
flags.DEFINE_integer("max_request_bytes", 256 * 1024, "largest request body accepted (413 above)", lower_bound=1024,
                     flag_values=FLAGS)
flags.DEFINE_integer("max_new_tokens_limit", 1024, "largest max_new_tokens a request may ask for", lower_bound=1,
                     flag_values=FLAGS)
flags.DEFINE_bool("access_log", False, "log every request", flag_values=FLAGS)
flags.DEFINE_string("token_file", None, f"a file holding the token every request but /health must send as "
                    f"'Authorization: Bearer TOKEN' (only its owner may read it); or set {TOKEN_ENV}",
                    flag_values=FLAGS)
flags.DEFINE_list("allowed_hosts", [], "more names a request's Host header may give (the --host address, "
                  "localhost, 127.0.0.1 and [::1] always may); needed to reach a server bound to 0.0.0.0 by name",
                  flag_values=FLAGS)
flags.DEFINE_float("grace_seconds", 20.0, "on SIGTERM, how long queued requests may take before the rest get 503 "
                   "(under the 30 s Slurm waits before SIGKILL)", lower_bound=0, flag_values=FLAGS)


class ServeError(UserError):
    """A flag the server cannot start with (a model that does not load, a bad host name), named."""


def main(argv: Sequence[str]) -> int:
    """``python -m mathpe_jax.serve`` with ``argv`` the arguments after the program name; serves until
    stopped, then returns the exit status. Flags are parsed into a set of the server's own, so that
    the tests call this in their process, as they call the tools."""
    if extra := cli.parse_tool_flags(FLAGS, argv, __doc__):
        cli.fail(f"unexpected arguments {' '.join(extra)}: give each model as --model NAME=SOURCE")
    try:
        _serve()
    except UserError as err:
        cli.fail(str(err))
    return 0


def _serve() -> None:
    import uvicorn

    from mathpe_jax.serve import Settings, create_app, load_models
    from mathpe_jax.serve.server import GracefulServer

    token = read_token(FLAGS.token_file)
    hosts = _allowed_hosts()
    try:
        models = load_models(FLAGS.model, FLAGS.base)
    except (ValueError, FileNotFoundError) as err:
        raise ServeError(str(err)) from None
    settings = Settings(
        max_batch=FLAGS.max_batch,
        max_wait_s=FLAGS.max_wait_ms / 1e3,
        max_pending=FLAGS.max_pending,
        max_request_bytes=FLAGS.max_request_bytes,
        max_new_tokens_limit=FLAGS.max_new_tokens_limit,
        token=token,
        allowed_hosts=hosts,
    )
    app = create_app(models, settings)
    config = uvicorn.Config(app, host=FLAGS.host, port=FLAGS.port, access_log=FLAGS.access_log, log_level="warning")
    server = GracefulServer(config, app.state.drain, FLAGS.grace_seconds)
    if token is None:
        print(f"warning: no token is set (--token_file or {TOKEN_ENV}): anyone who can connect to the server "
              "can use it, every user of this host included", file=sys.stderr, flush=True)

    names = ", ".join(m.name for m in models)

    def announce() -> None:
        """One line once the socket is bound (with the port it got, for ``--port=0``): a waiting
        script reads it to know the server answers."""
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"serving {len(models)} models ({names}) at http://{FLAGS.host}:{port} (demo: /, API: /docs)", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


def _allowed_hosts() -> tuple[str, ...]:
    """The Host allow-list of ``--host`` and ``--allowed_hosts``; a bad name is one error naming its flag."""
    for flag, names in (("host", [FLAGS.host]), ("allowed_hosts", FLAGS.allowed_hosts)):
        for name in names:
            try:
                normalize_host(name)
            except ValueError as err:
                raise ServeError(f"--{flag}: {err}") from None
    return allowed_hosts(FLAGS.host, FLAGS.allowed_hosts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
