"""Experiment presets: one task and training budget, swept over positional encodings.

Each preset file takes the PE as its config argument (``copy_cpu.py:t5``) and names the PEs it
compares in ``SWEEP``, so ``python tools/compare.py --configs configs/experiments/copy_cpu.py``
runs every one of them. A ``*_cpu.py`` file is its preset shrunk to finish in minutes on a laptop.
"""
