"""Grading model answers as text: extraction, equivalence, arithmetic step checks, timeouts.

Imports no JAX (nor any other array library), so grading can run anywhere, including in the
small helper process that enforces timeouts on symbolic comparison.
"""
