"""The command line of ``main`` and the tools: flags parsed before anything runs, one-line errors.

``run(main)`` replaces ``absl.app.run(main)``. Before absl parses the flags it loads every config
file named on the command line and checks each ``--config.KEY=VALUE`` override against it, so a
missing file, a file that does not load, or an unknown key (with the closest known key) is one
line: ``error: <message>``, exit status 2. Any ``UserError`` raised by ``main`` ends the same way.
``--verbose`` (defined here, so every entry point has it) keeps the libraries' INFO lines.
The tools without a config file parse a flag set of their own instead (``tool_flags``,
``parse_tool_flags``), with the same one-line errors and ``--verbose``, so that their ``main(argv)``
can also be called in-process; ``run`` stays for the entry points with a config file (``main``,
``tools/plan_memory.py``), whose flag ml_collections defines in absl's global set from ``sys.argv``.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from absl import app, flags, logging
from ml_collections import ConfigDict

from mathpe_jax.errors import ConfigError, UserError
from mathpe_jax.logs import quiet_library_logs

FLAGS = flags.FLAGS
VERBOSE = flags.DEFINE_bool("verbose", False, "show the INFO lines of Orbax, JAX and absl")
EXIT_USER_ERROR = 2


def load_config_file(spec: str) -> ConfigDict:
    """``get_config()`` of the Python file ``spec`` (``path`` or ``path:argument``, as config_flags reads it)."""
    path, _, argument = spec.partition(":") if not Path(spec).is_file() else (spec, "", "")
    if not Path(path).is_file():
        raise ConfigError(f"config file not found: {path} (relative to {Path.cwd()})")
    module_spec = importlib.util.spec_from_file_location(f"_mathpe_config_{Path(path).stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"config file {path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ConfigError(f"config file {path}: syntax error at line {err.lineno}: {err.msg}") from None
    except Exception as err:  # whatever the file itself raises, the file is the culprit
        raise ConfigError(f"config file {path} failed to load: {type(err).__name__}: {err}") from None
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"config file {path} defines no get_config() function")
    try:
        config = get_config(argument) if argument else get_config()
    except Exception as err:
        raise ConfigError(f"config file {path}: get_config() raised {type(err).__name__}: {err}") from None
    if not isinstance(config, ConfigDict):
        raise ConfigError(f"config file {path}: get_config() returned a {type(config).__name__}, not a ConfigDict")
    return config


def config_keys(config: ConfigDict, prefix: str = "") -> Iterator[str]:
    """Every dotted key of ``config``, nested dicts included (``train``, ``train.steps``, ...)."""
    for key, value in config.items():
        yield prefix + key
        if isinstance(value, ConfigDict):
            yield from config_keys(value, f"{prefix}{key}.")


def check_override(flag: str, key: str, config: ConfigDict) -> None:
    """Raises ``ConfigError`` unless ``key`` (``train.steps``) exists in ``config``."""
    node = config
    for part in key.split("."):
        part = part.split("[", 1)[0]  # config_flags indexes lists and tuples as key[i]
        if isinstance(node, ConfigDict) and part in node:
            node = node[part]
            continue
        known = list(config_keys(config))
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean --{flag}.{close[0]}?" if close else ""
        raise ConfigError(f"unknown config key --{flag}.{key}{hint}")


def _flag_value(argv: Sequence[str], name: str) -> str | None:
    """The last value given as ``--name=V`` or ``--name V`` (absl's rule: the last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
    return value


def check_config_argv(name: str, default: str, argv: Sequence[str]) -> None:
    """Loads the file of config flag ``name`` and checks its ``--name.KEY`` overrides in ``argv``.

    Does nothing when ``argv`` neither names a file nor overrides a key: the default file is then
    loaded lazily, by absl, when the flag is first read.
    """
    overrides = [arg[len(name) + 3 :].split("=", 1)[0] for arg in argv if arg.startswith(f"--{name}.")]
    spec = _flag_value(argv, name)
    if spec is None and not overrides:
        return
    config = load_config_file(spec or default)
    for key in overrides:
        check_override(name, key, config)


_CONFIG_FLAGS: dict[str, str] = {}  # config flag name -> default file


def DEFINE_config_file(name: str, default: str, help_string: str):  # noqa: N802 (absl's naming)
    """``config_flags.DEFINE_config_file`` that first checks the command line in one line.

    ml_collections reads ``sys.argv`` while defining the flag and raises a long traceback for an
    unknown override key, so the check has to come before the definition, at import time.
    """
    from ml_collections import config_flags

    try:
        check_config_argv(name, default, sys.argv[1:])
    except UserError as err:
        fail(str(err))
    _CONFIG_FLAGS[name] = default
    return config_flags.DEFINE_config_file(name, default, help_string)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with config files checked first and every flag error on one line."""
    args = list(argv)
    try:
        for name, default in _CONFIG_FLAGS.items():
            check_config_argv(name, default, args[1:])
        return FLAGS(args)
    except UserError as err:
        fail(str(err))
    except flags.Error as err:
        fail(str(err).splitlines()[0])


def tool_flags() -> flags.FlagValues:
    """A flag set of one tool's own, with ``--verbose`` and ``--help`` as every entry point has.

    A tool whose ``main(argv)`` is also called in-process (the tests call several tools in one
    process) cannot define its flags in absl's global set: two tools' ``--out`` would collide there,
    and a second call would inherit the values of the first.
    """
    own = flags.FlagValues()
    flags.DEFINE_bool("verbose", False, FLAGS["verbose"].help, flag_values=own)
    flags.DEFINE_bool("help", False, "show this help and exit", flag_values=own)
    return own


def parse_tool_flags(own: flags.FlagValues, argv: Sequence[str], doc: str) -> list[str]:
    """Parses ``argv`` (the arguments, without the program name) into ``own``, afresh on every call;
    returns the positional arguments. A flag error is one ``error:`` line (exit status 2);
    ``--help`` prints ``doc`` and the flags (exit status 0); library logs follow ``--verbose``."""
    own.unparse_flags()
    error, positional = None, []
    try:
        positional = own(["", *argv])[1:]
    except flags.Error as err:
        error = str(err).splitlines()[0]
    if own["help"].value:  # even when a required flag is missing
        print(f"{doc.strip()}\n\nflags:\n{own.get_help()}")
        sys.exit(0)
    if error:
        fail(error)
    if not FLAGS.is_parsed():
        FLAGS.mark_as_parsed()  # absl's own flags (its logging's) keep their defaults
    FLAGS.verbose = own.verbose  # so that ``fail`` shows the trace, as for every entry point
    logging.use_absl_handler()  # as ``app.run`` does: the handler that ``quiet_library_logs`` filters
    quiet_library_logs(own.verbose)
    return positional


def fail(message: str) -> NoReturn:
    """Prints ``error: <message>`` on one line and exits with status 2; with ``--verbose``, the
    trace of the exception being handled comes first."""
    if sys.exc_info()[0] is not None and FLAGS.is_parsed() and VERBOSE.value:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def run(main: Callable[[list[str]], None]) -> None:
    """``absl.app.run(main)`` with the checks above and ``UserError`` turned into ``error: <message>``."""

    def guarded(argv: list[str]) -> None:
        quiet_library_logs(VERBOSE.value)
        try:
            main(argv)
        except UserError as err:
            fail(str(err))

    app.run(guarded, flags_parser=parse_flags)
