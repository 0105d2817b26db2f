"""Write the comparison report of a sweep: ``python tools/report.py DIR``.

Reads every run directory under DIR and writes comparison_report.json, statistical_analysis.json,
visualizations/*.png, summary.md, report.html and report.pdf into DIR (see
``mathpe_jax/analysis/report.py``). Runs without results.json (still training, failed, stopped, or
planned by DIR/sweep.json and never started) are left out, and named in the report and on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from mathpe_jax import cli
from mathpe_jax.analysis.report import write_report

FLAGS = cli.tool_flags()


def main(argv: Sequence[str]) -> int:
    """``tools/report.py DIR`` with ``argv`` the arguments after the program name; the exit status."""
    args = cli.parse_tool_flags(FLAGS, argv, __doc__)
    if len(args) != 1:
        cli.fail("give one directory: a sweep directory, or any directory holding run directories")
    directory = args[0]
    if not Path(directory).is_dir():
        cli.fail(f"{directory}: no such directory")
    try:
        written = write_report(directory)
    except ValueError as error:
        cli.fail(str(error))
    if written.warning:
        print(written.warning, file=sys.stderr)
    print(f"report: {written.html}, {written.pdf}, {len(written.figures)} figures in {written.directory / 'visualizations'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
