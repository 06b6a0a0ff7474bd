r"""Matrix-sensing problems: operators, :class:`Problem`, generators and the ``.npz`` format.

``.npz`` format (written by :meth:`Problem.save`, read by :func:`load_problem`):

* ``operator`` -- the kind: ``"dense"``, ``"aligned"``, ``"completion"``, ``"rank_one"`` or
  one added with :func:`register_operator` (absent: ``"dense"``, so a plain
  ``np.savez(path, A=A, y=y)`` file loads);
* the operator's arrays (its ``npz_keys``) -- dense: ``A (m, d1, d2)``; aligned: ``Phi (d1, r)``,
  ``Psi (d2, r)``, ``S (m, r)``; completion: ``rows (m,)``, ``cols (m,)``, ``shape (2,)``;
  rank_one: ``a (m, d1)``, ``b (m, d2)``;
* ``y (m,)``; optional ``X_true (d1, d2)``;
* optional held-out set: the same operator arrays prefixed ``test_`` and ``y_test``;
* ``meta`` -- a JSON string (kind, seed, noise, ...).

The problem class is in :mod:`spectralnn._problem`, the reader in :mod:`spectralnn._problem_io`,
the generators in :mod:`spectralnn._problem_gen` and the operators in
:mod:`spectralnn._operators`; all are re-exported here.
"""

from __future__ import annotations

from ._operators import OPERATORS as OPERATORS
from ._operators import (
    AbstractOperator,
    AlignedOperator,
    CompletionOperator,
    DenseOperator,
    RankOneOperator,
    register_operator,
)
from ._problem import _LARGEST as _LARGEST
from ._problem import Problem
from ._problem import _check_operator as _check_operator
from ._problem import _check_y as _check_y
from ._problem import _npz_arrays as _npz_arrays
from ._problem_gen import PROBLEM_KINDS, low_rank_target, make_image_problem, make_problem
from ._problem_gen import _sample_operator as _sample_operator
from ._problem_io import _DEFLATE_RATIO as _DEFLATE_RATIO
from ._problem_io import MAX_ARRAY_BYTES as MAX_ARRAY_BYTES
from ._problem_io import MAX_RATIO as MAX_RATIO
from ._problem_io import ProblemFormatError, load_problem
from ._problem_io import _clean as _clean
from ._problem_io import _float_keys as _float_keys
from ._problem_io import _keys as _keys
from ._problem_io import _known_keys as _known_keys
from ._problem_io import _npz_headers as _npz_headers
from ._problem_io import _operator_from as _operator_from

__all__ = [
    "PROBLEM_KINDS",
    "AbstractOperator",
    "AlignedOperator",
    "CompletionOperator",
    "DenseOperator",
    "Problem",
    "ProblemFormatError",
    "RankOneOperator",
    "load_problem",
    "low_rank_target",
    "make_image_problem",
    "make_problem",
    "register_operator",
]
