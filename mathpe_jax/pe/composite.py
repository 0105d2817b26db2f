"""A PE made of two: one PE's embeddings and another's attention terms, each built from its own
options and holding its own parameters.

McLeish et al. (2024) pair Abacus's places in the embeddings with a relative encoding in attention;
any such pairing is a subclass that names its two parts, so the pairing is written once and each
part is the same module that runs alone (same math, same tests).
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from mathpe_jax.pe.base import PEDims, PositionalEncoding


class Composite(PositionalEncoding):
    """``parts = ((name, EmbeddingPE), (name, AttentionPE))``: ``embed`` is the first part's,
    ``rotate`` and ``bias`` the second's, and each part is an attribute of its name (so its
    parameters sit under it). Options go to the part that takes them; the inputs are both parts';
    BOS is needed only when neither part tells attention where a token is."""

    parts: tuple[tuple[str, type[PositionalEncoding]], tuple[str, type[PositionalEncoding]]]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        (_, embedding), (_, attention) = cls.parts
        cls.inputs = tuple(dict.fromkeys(embedding.inputs + attention.inputs))
        cls.requires_bos = embedding.requires_bos and attention.requires_bos

    def __init__(self, dims: PEDims, *, rngs: nnx.Rngs, **options: Any):
        unknown = sorted(set(options) - self.option_names())
        if unknown:
            raise TypeError(f"{type(self).__name__} got an unexpected option {unknown[0]!r}")
        for name, part in self.parts:
            setattr(self, name, part(dims, rngs=rngs, **{k: v for k, v in options.items() if k in part.option_names()}))

    @classmethod
    def option_names(cls) -> set[str]:
        return set().union(*(part.option_names() for _, part in cls.parts))

    def _part(self, index: int) -> PositionalEncoding:
        return getattr(self, self.parts[index][0])

    def embed(self, x, positions, **inputs):
        part = self._part(0)
        return part.embed(x, positions, **{name: inputs[name] for name in part.inputs})

    def rotate(self, q, k, positions, layer):
        return self._part(1).rotate(q, k, positions, layer)

    def bias(self, q_positions, k_positions, layer, **inputs):
        part = self._part(1)
        return part.bias(q_positions, k_positions, layer, **{name: inputs[name] for name in part.inputs})

    def coverage(self, trained, evaluated):
        """The embedding part's report (for Abacus: which places are new), with the attention
        part's summary added."""
        first, second = self._part(0).coverage(trained, evaluated), self._part(1).coverage(trained, evaluated)
        return {**first, "summary": f"{first['summary']}; {second['summary']}"}
