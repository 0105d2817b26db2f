"""Robustness of accuracy to changed problems: the perturbations, and the report over them."""
