"""Watch a sweep: each run's state, step, loss, tokens/s, ETA, latest evaluation, disk use and PBS job.

    python tools/monitor.py DIR [--once] [--json] [--interval SECONDS]

DIR is a sweep directory (every planned run is listed, begun or not) or any directory holding run
directories. Without --once the table is redrawn every --interval seconds until Ctrl-C; --json
prints one snapshot as JSON for scripts. The monitor only reads, so it is safe beside running runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from absl import flags

from mathpe_jax import cli
from mathpe_jax.errors import UserError
from mathpe_jax.sweep.monitor import render, snapshot

CLEAR = "\x1b[2J\x1b[H"  # clear the terminal and move to its top-left corner

FLAGS = cli.tool_flags()
flags.DEFINE_bool("once", False, "print the table once and exit", flag_values=FLAGS)
flags.DEFINE_bool("json", False, "print one snapshot as JSON and exit", flag_values=FLAGS)
flags.DEFINE_float("interval", 10.0, "seconds between refreshes", flag_values=FLAGS)
flags.register_validator("interval", lambda seconds: seconds > 0, "--interval must be positive", flag_values=FLAGS)


def main(argv: Sequence[str]) -> int:
    """``tools/monitor.py DIR`` with ``argv`` the arguments after the program name; the exit status."""
    args = cli.parse_tool_flags(FLAGS, argv, __doc__)
    if len(args) != 1:
        cli.fail("give one directory: a sweep directory, or any directory with run directories under it")
    directory = args[0]
    try:
        if FLAGS.json:
            print(json.dumps(snapshot(directory), indent=2))
        elif FLAGS.once:
            print(render(snapshot(directory)))
        else:
            while True:
                print(CLEAR + render(snapshot(directory)), flush=True)
                time.sleep(FLAGS.interval)
    except UserError as err:
        cli.fail(str(err))
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
