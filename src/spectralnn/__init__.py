"""spectralnn: Spectral Neural Networks (SNN) and non-linear matrix sensing in PyTorch.

See README.md for a tour, docs/design.md for the architecture and docs/math.md for the formulas.
"""

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING

# The public names are imported on first use (PEP 562 ``__getattr__`` below), so that
# ``import spectralnn`` -- and with it the ``spectralnn`` command's start-up, ``--help`` and
# argument errors -- does not pay for torch, scipy and scikit-learn (about 2 s of CPU).
# ``snn.fit``, ``from spectralnn import SNNCompleter`` and ``from spectralnn import *`` work as
# before; any submodule (``snn.recipe``, ``snn.sensing``, ...) is imported when first touched.
_EXPORTS = {
    "functional": None,
    "metrics": None,
    "theory": None,
    "ACTIVATIONS": "functional",
    "Activation": "functional",
    "effective_rank": "functional",
    "nuclear_norm": "functional",
    "register_activation": "functional",
    "spectral_apply": "functional",
    "MODELS": "models",
    "DeepFactorization": "models",
    "Factorization": "models",
    "FreeMatrix": "models",
    "SNNFactorization": "models",
    "make_model": "models",
    "SNN": "nn",
    "SNNBlock": "nn",
    "SNNLayer": "nn",
    "SpectralActivation": "nn",
    "FitResult": "train",
    "Status": "train",
    "fit": "train",
    "fit_runs": "train",
    "AbstractOperator": "sensing",
    "AlignedOperator": "sensing",
    "CompletionOperator": "sensing",
    "DenseOperator": "sensing",
    "Problem": "sensing",
    "ProblemFormatError": "sensing",
    "RankOneOperator": "sensing",
    "load_problem": "sensing",
    "low_rank_target": "sensing",
    "make_problem": "sensing",
    "ConvexCompleter": "estimators",
    "DeepCompleter": "estimators",
    "FreeCompleter": "estimators",
    "SNNCompleter": "estimators",
    "SoftImputeCompleter": "estimators",
    "ColumnWarning": "recipe",
    "MaskWarning": "recipe",
    "StallWarning": "recipe",
    "StillImprovingWarning": "recipe",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        where = _EXPORTS[name]
        if where is None:
            value = importlib.import_module(f"{__name__}.{name}")
        else:
            value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):  # a submodule not imported yet: snn.recipe, snn.images, ...
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static checkers and IDEs see the names as before
    from . import functional, metrics, theory
    from .estimators import (
        ConvexCompleter,
        DeepCompleter,
        FreeCompleter,
        SNNCompleter,
        SoftImputeCompleter,
    )
    from .functional import (
        ACTIVATIONS,
        Activation,
        effective_rank,
        nuclear_norm,
        register_activation,
        spectral_apply,
    )
    from .models import (
        MODELS,
        DeepFactorization,
        Factorization,
        FreeMatrix,
        SNNFactorization,
        make_model,
    )
    from .nn import SNN, SNNBlock, SNNLayer, SpectralActivation
    from .recipe import ColumnWarning, MaskWarning, StallWarning, StillImprovingWarning
    from .sensing import (
        AbstractOperator,
        AlignedOperator,
        CompletionOperator,
        DenseOperator,
        Problem,
        ProblemFormatError,
        RankOneOperator,
        load_problem,
        low_rank_target,
        make_problem,
    )
    from .train import FitResult, Status, fit, fit_runs

__all__ = [
    "__version__",
    "functional",
    "metrics",
    "theory",
    "MODELS",
    "make_model",
    "ACTIVATIONS",
    "Activation",
    "effective_rank",
    "nuclear_norm",
    "register_activation",
    "spectral_apply",
    "SpectralActivation",
    "SNNBlock",
    "SNNLayer",
    "SNN",
    "SNNFactorization",
    "FreeMatrix",
    "DeepFactorization",
    "Factorization",
    "AbstractOperator",
    "DenseOperator",
    "AlignedOperator",
    "CompletionOperator",
    "RankOneOperator",
    "Problem",
    "ProblemFormatError",
    "make_problem",
    "load_problem",
    "low_rank_target",
    "fit",
    "fit_runs",
    "FitResult",
    "Status",
    "SNNCompleter",
    "ConvexCompleter",
    "SoftImputeCompleter",
    "FreeCompleter",
    "DeepCompleter",
    "ColumnWarning",
    "MaskWarning",
    "StallWarning",
    "StillImprovingWarning",
]
