"""Watch a sweep: each run's state, step, loss, tokens/s, ETA, latest evaluation, disk use and PBS job.

    python tools/monitor.py DIR [--once] [--json] [--interval SECONDS]

DIR is a sweep directory (every planned run is listed, begun or not) or any directory holding run
directories. Without --once the table is redrawn every --interval seconds until Ctrl-C; --json
prints one snapshot as JSON for scripts. The monitor only reads, so it is safe beside running runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from mathpe_jax import cli
from mathpe_jax.errors import UserError
from mathpe_jax.sweep.monitor import render, snapshot

CLEAR = "\x1b[2J\x1b[H"  # clear the terminal and move to its top-left corner


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="sweep directory, or any directory with run directories under it")
    parser.add_argument("--once", action="store_true", help="print the table once and exit")
    parser.add_argument("--json", action="store_true", help="print one snapshot as JSON and exit")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between refreshes (default 10)")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval={args.interval:g}: must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        if args.json:
            print(json.dumps(snapshot(args.dir), indent=2))
        elif args.once:
            print(render(snapshot(args.dir)))
        else:
            while True:
                print(CLEAR + render(snapshot(args.dir)), flush=True)
                time.sleep(args.interval)
    except UserError as err:
        cli.fail(str(err))
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
