"""Solve a math problem with a checkpoint: ``python tools/solve.py --checkpoint=DIR --problem="..."``.

DIR may be a Hugging Face model (or hub id), a converted checkpoint, a run directory, or a LoRA
adapter (with ``--base`` unless a PEFT adapter names its base). ``--json`` prints one JSON object.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from absl import flags

from mathpe_jax import cli
from mathpe_jax.data.prompts import TEMPLATES
from mathpe_jax.errors import UserError
from mathpe_jax.solve import solve_math_problem

FLAGS = cli.tool_flags()
flags.DEFINE_string("checkpoint", None, "model directory, hub id, run directory or adapter", required=True,
                    flag_values=FLAGS)
flags.DEFINE_string("problem", None, "the problem text", required=True, flag_values=FLAGS)
flags.DEFINE_string("base", None, "base model of an adapter checkpoint", flag_values=FLAGS)
flags.DEFINE_enum("template", None, list(TEMPLATES),
                  "prompt template (default: the model's own; chat: the tokenizer's chat template)", flag_values=FLAGS)
flags.DEFINE_integer("max_new_tokens", 256, "generation budget", flag_values=FLAGS)
flags.DEFINE_bool("json", False, "print one JSON object instead of text", flag_values=FLAGS)


def main(argv: Sequence[str]) -> int:
    """``tools/solve.py`` with ``argv`` the arguments after the program name; the exit status."""
    if extra := cli.parse_tool_flags(FLAGS, argv, __doc__):
        cli.fail(f"unexpected arguments {' '.join(extra)}: give the problem as --problem")
    try:
        result = solve_math_problem(
            FLAGS.problem, FLAGS.checkpoint, template=FLAGS.template, max_new_tokens=FLAGS.max_new_tokens, base=FLAGS.base
        )
    except (UserError, ValueError, FileNotFoundError) as err:
        cli.fail(str(err))
    if FLAGS.json:
        print(json.dumps(result))
    else:
        print(result["completion"])
        print(f"\nFinal answer: {result['answer']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
