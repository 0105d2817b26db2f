"""Solve a math problem with a checkpoint: ``python tools/solve.py --checkpoint=DIR --problem="..."``.

DIR may be a Hugging Face model (or hub id), a converted checkpoint, a run directory, or a LoRA
adapter (with ``--base`` unless a PEFT adapter names its base). ``--json`` prints one JSON object.
"""

from __future__ import annotations

import json
import sys

from absl import flags

from mathpe_jax import cli
from mathpe_jax.data.prompts import TEMPLATES
from mathpe_jax.solve import solve_math_problem

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "model directory, hub id, run directory or adapter", required=True)
flags.DEFINE_string("problem", None, "the problem text", required=True)
flags.DEFINE_string("base", None, "base model of an adapter checkpoint")
flags.DEFINE_enum("template", None, list(TEMPLATES),
                  "prompt template (default: the model's own; chat: the tokenizer's chat template)")
flags.DEFINE_integer("max_new_tokens", 256, "generation budget")
flags.DEFINE_bool("json", False, "print one JSON object instead of text")


def main(argv: list[str]) -> None:
    del argv
    try:
        result = solve_math_problem(
            FLAGS.problem, FLAGS.checkpoint, template=FLAGS.template, max_new_tokens=FLAGS.max_new_tokens, base=FLAGS.base
        )
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    if FLAGS.json:
        print(json.dumps(result))
    else:
        print(result["completion"])
        print(f"\nFinal answer: {result['answer']}")


if __name__ == "__main__":
    cli.run(main)
