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

import shlex
import sys
from collections.abc import Sequence

from absl import flags, logging

from mathpe_jax import cli
from mathpe_jax.errors import UserError
from mathpe_jax.sweep.directory import open_sweep
from mathpe_jax.sweep.local import Interrupted, run_local
from mathpe_jax.sweep.pbs import submit_pbs
from mathpe_jax.sweep.plan import PlannedRun, plan_runs

OVERRIDE = "--config."  # a run-config override, passed to every run rather than parsed here

FLAGS = cli.tool_flags()
flags.DEFINE_multi_string(
    "configs", None, "config files (path or path:argument); presets expand; the files after the first may follow it "
    "as arguments (--configs A.py B.py)", required=True, flag_values=FLAGS,
)
flags.DEFINE_integer("seeds", 3, "seeds 0..N-1 for every config", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_string("out", None, "sweep directory", required=True, flag_values=FLAGS)
flags.DEFINE_integer("jobs", 1, "runs at a time on this machine", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_bool("pbs", False, "submit each run as a PBS job instead", flag_values=FLAGS)
flags.DEFINE_string("qsub_args", "", "extra qsub arguments for every run job (--pbs)", flag_values=FLAGS)
flags.DEFINE_string("container", "", "an Enroot image (enroot/build.sh) each run job runs in (--pbs)",
                    flag_values=FLAGS)
flags.DEFINE_bool("no_report", False, "do not write the report at the end", flag_values=FLAGS)


def main(argv: Sequence[str]) -> int:
    """``tools/compare.py`` with ``argv`` the arguments after the program name; the exit status."""
    overrides = [arg for arg in argv if arg.startswith(OVERRIDE)]
    more_configs = cli.parse_tool_flags(FLAGS, [arg for arg in argv if not arg.startswith(OVERRIDE)], __doc__)
    configs = [*FLAGS.configs, *more_configs]
    logging.set_verbosity(logging.INFO)  # progress in the same line format as each run's own log
    try:
        runs = plan_runs(configs, range(FLAGS.seeds), FLAGS.out, overrides)
        with open_sweep(FLAGS.out, runs):
            return _sweep(runs)
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return 128 + 15
    except UserError as err:
        cli.fail(str(err))


def _sweep(runs: list[PlannedRun]) -> int:
    """Submits or runs the sweep, then writes its report; the exit status of ``main``."""
    if FLAGS.pbs:
        submitted = submit_pbs(runs, FLAGS.out, shlex.split(FLAGS.qsub_args), report=not FLAGS.no_report,
                               container=FLAGS.container)
        for key, job in submitted.runs.items():
            print(f"{key}: job {job}")
        print(f"{len(submitted.runs)} submitted, {len(submitted.skipped)} finished or queued already"
              + (f"; report job {submitted.report_job}" if submitted.report_job else ""))
        return 0
    outcomes = run_local(runs, FLAGS.out, jobs=FLAGS.jobs)
    failed = [o for o in outcomes if o.status in ("failed", "busy")]
    for outcome in failed:
        print(outcome, file=sys.stderr)
    if not FLAGS.no_report:
        from mathpe_jax.analysis.report import write_report

        written = write_report(FLAGS.out)
        if written.warning:
            print(written.warning, file=sys.stderr)
        print(f"report: {written.html} ({len(runs) - len(failed)}/{len(runs)} runs)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
