"""Exception and warning classes shared across spectralnn.

``InputError`` (a :class:`ValueError`) and ``InputTypeError`` (a :class:`TypeError`) mark a
problem with what the user passed in (a value, a file, a flag), found by validation; ``except
ValueError`` / ``except TypeError`` keep working.  The command line reports them in one line with
exit code 2 wherever they are raised; other exceptions count as bad input only while a command
validates its arguments, and as internal errors (exit code 1) once its work has started.

``ConvergenceWarning`` is issued when a numerical solver returns an approximation: stopped at
its iteration limit, ended "inaccurate", or fell back to a weaker method.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SKLEARN = os.sep + "sklearn" + os.sep  # its wrappers around fit_transform are not the caller


def warn_user(warning: Warning) -> None:
    """Issue ``warning`` at the first frame outside spectralnn (and scikit-learn's wrappers):
    the user's own call, however deep it was found (a fixed ``stacklevel`` pointed inside the
    library)."""
    level = 1
    frame: FrameType | None = sys._getframe(0)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE) or _SKLEARN in frame.f_code.co_filename
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(warning, stacklevel=level)


class InputError(ValueError):
    """Invalid user input (argument, file or flag), detected by validation."""


class InputTypeError(TypeError):
    """User input of the wrong type (a non-tensor, an int or float16 dtype, a non-int seed)."""


class ConvergenceWarning(UserWarning):
    """A solver stopped before meeting its tolerance, or fell back to a weaker method."""


class StallWarning(UserWarning):
    """A run never left its initial point (raise the learning rate or ``init_scale``), or every
    learning rate diverged."""


class ColumnWarning(UserWarning):
    """On held-out entries some column of a table was predicted worse than by its own mean
    (or was held out at one value only); ``columns`` lists them (0-based)."""

    columns: list = []


class StillImprovingWarning(UserWarning):
    """The held-out loss was still falling at the step limit: raise ``max_steps``."""


class MaskWarning(UserWarning):
    """An image's mask never shows some neighbouring pixels together in the patches at the
    default stride: the patches were taken at another stride, or, where no stride shows them,
    the image was filled by biharmonic interpolation (``spectralnn._patch_mask``)."""
