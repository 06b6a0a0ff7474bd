r"""Linear measurement operators :math:`\mathcal{A}(X)_i = \langle A_i, X \rangle` and adjoints.

Every operator maps ``X: (..., d1, d2) -> (..., m)`` and ``r: (..., m) -> (..., d1, d2)`` at the
costs of docs/math.md section 1, without materialising ``m`` copies of ``X``.

The operator protocol
---------------------
Everything the package does with an operator goes through methods of
:class:`AbstractOperator`, so that a new kind of measurement is one subclass (and one
:func:`register_operator` for the ``.npz`` format), with no edit anywhere else:

* ``_apply``, ``_adjoint`` (required): ``op(X)`` and ``op.adjoint(r)``, used everywhere;
  ``arrays`` and ``to`` (required): checkpoints, devices and dtypes.
* The ``.npz`` format (``Problem.save`` / ``load_problem``): ``npz_keys``, ``float_keys``,
  ``npz_arrays`` (default ``arrays()``) and ``from_npz`` (default ``cls(*arrays)``).
* The factored engine (``fit(method="factored")``): ``measure_low_rank`` (not supported by
  default: ``low_rank_unsupported`` says why), ``measure_low_rank_outside`` and
  ``streaming_order`` (defaults built on ``measure_low_rank``).
* The recipe: ``sq_norm_sum`` (default: Gaussian probes), ``curvature`` (power iteration),
  ``subset`` (none) and ``holdout`` (``perm[:n]``) for the held-out split,
  ``center_by_default`` (False).
* :mod:`spectralnn.theory`: ``range_matrix``, ``is_onto`` and ``min_norm_solution``
  (defaults from :meth:`~AbstractOperator.dense`); ``exact_lp`` with ``nuclear_lp`` and
  ``kkt_lp`` (aligned operators: ``min_nuclear_norm(method="lp")`` and
  ``kkt_certificate(method="aligned")``).

The protocol and its defaults are in :mod:`spectralnn._operator_base`, the registry in
:mod:`spectralnn._operator_registry`, the operators in :mod:`spectralnn._dense_operators` (dense,
rank-one), :mod:`spectralnn._aligned_operator` and :mod:`spectralnn._completion_operator` (with
its gather kernels in :mod:`spectralnn._gather`); all are re-exported here, and importing this
module registers the four built-in kinds.
"""

from __future__ import annotations

from ._aligned_operator import AlignedOperator
from ._completion_operator import CompletionOperator
from ._dense_operators import DenseOperator, RankOneOperator
from ._gather import CHUNK, DENSE_ROUTE_LIMIT, _dense_route, _SampledProduct, _SampledWithOutside
from ._operator_base import AbstractOperator, _check_input, _same_dtype
from ._operator_registry import _RESERVED, OPERATORS, register_operator

__all__ = [
    "CHUNK",
    "DENSE_ROUTE_LIMIT",
    "OPERATORS",
    "_RESERVED",
    "AbstractOperator",
    "AlignedOperator",
    "CompletionOperator",
    "DenseOperator",
    "RankOneOperator",
    "_SampledProduct",
    "_SampledWithOutside",
    "_check_input",
    "_dense_route",
    "_same_dtype",
    "register_operator",
]

for _cls in (DenseOperator, AlignedOperator, CompletionOperator, RankOneOperator):
    register_operator(_cls)
