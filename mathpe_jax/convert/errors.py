"""The one exception of the conversion layer, so callers can tell a bad checkpoint from a bug."""

from mathpe_jax.errors import UserError


class ConversionError(UserError, ValueError):
    """A checkpoint or config that cannot be converted; the message is one line naming the culprit."""
