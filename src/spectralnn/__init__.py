"""spectralnn: Spectral Neural Networks (SNN) and non-linear matrix sensing in PyTorch.

See the README for a tour, ``DESIGN.md`` for the architecture and ``MATH.md`` for the formulas.
"""

__version__ = "0.1.0"

from . import functional
from .functional import (
    ACTIVATIONS,
    Activation,
    effective_rank,
    nuclear_norm,
    register_activation,
    spectral_apply,
)
from . import metrics, theory
from .models import (
    MODELS,
    DeepFactorization,
    Factorization,
    FreeMatrix,
    SNNFactorization,
    make_model,
)
from .nn import SNN, SNNBlock, SNNLayer, SpectralActivation
from .train import FitResult, Status, fit, fit_runs
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
from .estimators import (
    ConvexCompleter,
    DeepCompleter,
    FreeCompleter,
    SNNCompleter,
    SoftImputeCompleter,
)
from .recipe import StallWarning, StillImprovingWarning

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
    "StallWarning",
    "StillImprovingWarning",
]
