"""The one exception of the conversion layer, so callers can tell a bad checkpoint from a bug."""


class ConversionError(ValueError):
    """A checkpoint or config that cannot be converted; the message is one line naming the culprit."""
