"""The one exception type whose message is the whole story for the person who ran a command.

Entry points (``main``, ``tools/*.py``) print ``error: <message>`` on one line and exit non-zero
for any ``UserError``; everything else is a bug and keeps its traceback. Subclasses name what was
wrong (a config key, a file, a run directory) in their message.
"""

from __future__ import annotations


class UserError(Exception):
    """A bad input or an unusable environment, explained in one line that names the culprit."""


class ConfigError(UserError, ValueError):
    """A config file that does not load, or a config value that cannot run; names the file or key."""
