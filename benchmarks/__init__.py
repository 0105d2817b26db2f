"""Benchmarks of mathpe_jax: against transformers (``peer``), on one accelerator (``gpu``), of the
HTTP API under load (``serve``) and of the grader against math-verify (``grading``).

They live beside the package, not in it: torch, transformers, tokenizers, peft and math-verify are
the benchmarks' business (the ``bench`` extra), never the library's. ``tools/bench.py`` is their
command line. This file imports nothing, so that a peer worker (``python -m benchmarks.peer``)
measuring transformers never loads the ``mathpe_jax`` package.
"""
