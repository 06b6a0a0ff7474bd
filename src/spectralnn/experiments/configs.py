"""The paper's Figures 2-5 as frozen configs (settings in docs/experiments.md).

Usage::

    spectralnn reproduce fig2            # one figure, full settings
    spectralnn reproduce all --quick     # every figure, few iterations (tests, smoke checks)
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model of a figure and how it is trained."""

    name: str  # "snn" | "free" | "deep" (see spectralnn.models.MODELS)
    label: str  # shown in plots and the report
    steps: int  # "N iterations" in the paper = N - 1 gradient steps from step 0
    n_lrs: int  # learning rates kept by the protocol (the first that do not diverge)
    widths: tuple = (2, 2, 2, 2)  # SNN widths L_0, ..., L_{D-1}
    init: str = "identity"  # U_k = V_k = c I exactly (the authors add diag(1e-6 N(0,1)) to
    # dodge autograd's NaN at repeated singular values; our exact backward needs no jitter, and
    # the report measures what the jitter would change)
    init_scale: float = 1e-4  # the paper's c
    depth: int = 3  # deep factorisation depth
    spectral_order: str = "ascending"  # init="spectral": order of ubar, vbar (the authors')


@dataclasses.dataclass(frozen=True)
class FigureConfig:
    name: str
    caption: str  # the paper's caption
    kind: str  # measurement kind for make_problem
    models: tuple
    shape: tuple = (10, 10)
    rank: int = 6  # X* = W W^T, W in R^{10x6} with U(0, 1) entries
    measurements: int = 75
    noise: float = 0.01  # y_i += N(0, 0.01^2)
    scale: float = 10.0  # measurement scale: s_i = 10 N(0, I) (aligned), N(0, 10^2) (gaussian)
    seed: int = 42
    images: tuple = ()  # image figures: targets (see spectralnn.images.load_image)
    fraction: float = 0.6  # image figures: m = round(0.6 * 784) = 470
    quick_steps: int = 200  # --quick: the same code on this many steps
    quick_images: int = 2  # --quick: this many images
    n_frames: int = 6  # Figure 4: reconstructions shown per run


FIG2 = FigureConfig(
    name="fig2",
    caption="The evolution of training error, nuclear norm, and 3 leading singular values over "
    "time with learning rates of different magnitudes (SNN under Assumptions 1-2).",
    kind="aligned",
    # Spectral init: ubar, vbar = U(0, 1) sorted ASCENDING as in the authors' code (their s_i
    # are sorted descending), G orthogonal; SNNFactorization(spectral_order="descending") is the
    # other convention.
    models=(
        ModelSpec(
            "snn",
            "SNN (2,2,2,2), spectral init (ubar, vbar ascending)",
            100_000,
            5,
            init="spectral",
            init_scale=1.0,
        ),
    ),
    quick_steps=2000,
)

FIG3 = FigureConfig(
    name="fig3",
    caption="The evolution of training error, nuclear norm, 3 leading singular values over time "
    "with different learning rates of different models (Gaussian measurements).",
    kind="gaussian",
    models=(
        ModelSpec("snn", "SNN (2,2,2,2), identity init 1e-4", 10_000, 5),
        ModelSpec("free", "linear regression (X from 0)", 10_000, 5, init_scale=0.0),
        ModelSpec("deep", "deep factorisation, depth 3 (1e-4 I)", 20_001, 10),
    ),
    quick_steps=300,
)

_IMAGE_MODELS = (
    ModelSpec("free", "linear regression", 2_500, 3, init_scale=0.0),
    ModelSpec("snn", "SNN (4,8,16)", 2_500, 3, widths=(4, 8, 16)),
)

FIG4 = FigureConfig(
    name="fig4",
    caption="The reconstruction images over time with different learning rates of different "
    "models.",
    kind="gaussian",
    models=_IMAGE_MODELS,
    shape=(28, 28),
    scale=28.0,  # the authors' Gaussian A_i are `randn * n` with n = 28: N(0, 28^2) entries
    images=("camera",),  # MNIST cannot be downloaded here; --mnist IDX uses digit 0
    quick_steps=150,
    quick_images=1,
)

FIG5 = dataclasses.replace(
    FIG4,
    name="fig5",
    caption="Top row: ground truth; middle and bottom rows: images recovered by linear "
    "regression and by the SNN.",
    # One learning rate per model and image (the largest that does not diverge) keeps the
    # five-image figure affordable on 2 CPU cores; Figure 4 shows the lr dependence.
    models=tuple(dataclasses.replace(m, n_lrs=1) for m in _IMAGE_MODELS),
    images=("camera", "moon", "coins", "lfw:0", "lfw:7"),
    quick_images=2,
)

FIGURES = {cfg.name: cfg for cfg in (FIG2, FIG3, FIG4, FIG5)}
