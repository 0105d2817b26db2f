"""Run a comparison: every (config, seed) as its own run, then the report.

    python tools/compare.py --configs configs/sinusoidal.py configs/rope.py --seeds 3 --out runs/cmp \\
        [--jobs 2] [--pbs [--qsub_args="-l walltime=04:00:00"]] [--config.train.steps=500 ...]

A preset (``configs/experiments/copy_cpu.py``) stands for all the PEs it names. Runs go to
``OUT/<config name>/seed<k>``; finished runs are skipped and unfinished ones resume, so an
interrupted sweep is finished by running the same command again. OUT holds one sweep at a time and
one study: a second sweep while one runs, or one that drops or changes an arm, a seed or an
override of the study OUT holds, is refused before it writes anything. Locally the sweep ends by
writing the report (``tools/report.py OUT``); with ``--pbs`` each run is a PBS job and a last job
writes it.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from absl import flags, logging

from mathpe_jax import cli
from mathpe_jax.errors import UserError
from mathpe_jax.logs import quiet_library_logs
from mathpe_jax.sweep.directory import open_sweep
from mathpe_jax.sweep.local import Interrupted, run_local
from mathpe_jax.sweep.pbs import submit_pbs
from mathpe_jax.sweep.plan import PlannedRun, plan_runs


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", required=True, help="config files (path or path:argument); presets expand")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 for every config (default 3)")
    parser.add_argument("--out", required=True, help="sweep directory")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time on this machine (default 1)")
    parser.add_argument("--pbs", action="store_true", help="submit each run as a PBS job instead")
    parser.add_argument("--qsub_args", default="", help="extra qsub arguments for every run job (--pbs)")
    parser.add_argument("--container", default="", help="an Enroot image (enroot/build.sh) each run job runs in (--pbs)")
    parser.add_argument("--no_report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--verbose", action="store_true", help="show library INFO lines")
    args, rest = parser.parse_known_args(argv)
    unknown = [a for a in rest if not a.startswith("--config.")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.seeds < 1 or args.jobs < 1:
        parser.error(f"--seeds={args.seeds} --jobs={args.jobs}: both must be at least 1")
    return args, rest


def main(argv: list[str]) -> int:
    args, overrides = parse(argv)
    flags.FLAGS.mark_as_parsed()  # arguments are argparse's; absl's own flags keep their defaults
    logging.use_absl_handler()  # the same line format as each run's own log
    logging.set_verbosity(logging.INFO)
    quiet_library_logs(args.verbose)
    try:
        runs = plan_runs(args.configs, range(args.seeds), args.out, overrides)
        with open_sweep(args.out, runs):
            return _sweep(args, runs)
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return 128 + 15
    except UserError as err:
        cli.fail(str(err))


def _sweep(args: argparse.Namespace, runs: list[PlannedRun]) -> int:
    """Submits or runs the sweep, then writes its report; the exit status of ``main``."""
    if args.pbs:
        submitted = submit_pbs(runs, args.out, shlex.split(args.qsub_args), report=not args.no_report,
                               container=args.container)
        for key, job in submitted.runs.items():
            print(f"{key}: job {job}")
        print(f"{len(submitted.runs)} submitted, {len(submitted.skipped)} finished or queued already"
              + (f"; report job {submitted.report_job}" if submitted.report_job else ""))
        return 0
    outcomes = run_local(runs, args.out, jobs=args.jobs)
    failed = [o for o in outcomes if o.status in ("failed", "busy")]
    for outcome in failed:
        print(outcome, file=sys.stderr)
    if not args.no_report:
        from mathpe_jax.analysis.report import write_report

        written = write_report(args.out)
        if written.warning:
            print(written.warning, file=sys.stderr)
        print(f"report: {written.html} ({len(runs) - len(failed)}/{len(runs)} runs)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
