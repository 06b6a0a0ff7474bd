"""Exception and warning classes shared across spectralnn.

``InputError`` marks a problem with what the user passed in (a value, a file, a flag), found by
validation.  It subclasses :class:`ValueError`, so ``except ValueError`` keeps working; the
command line reports it in one line with exit code 2, wherever it is raised.  Any other
exception is an internal error (exit code 1).
"""

from __future__ import annotations


class InputError(ValueError):
    """Invalid user input (argument, file or flag), detected by validation."""


class InputTypeError(TypeError):
    """User input of the wrong type (a non-tensor, an int or float16 dtype, a non-int seed)."""


class ConvergenceWarning(UserWarning):
    """A solver stopped before meeting its tolerance, or fell back to a weaker method."""
