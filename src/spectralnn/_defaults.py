"""The per-model defaults, one table for every place that has them.

Read by the completion recipe (``_complete_defaults.py``: ``SNN_DEFAULTS``, ``MODEL_DEFAULTS``;
``_complete.py``), the sensing recipe (``_recipe_steps.DEFAULTS``, ``recipe.fit_recipe``), the
completers (``_recipe_completers.py``: their constructor defaults), the command line
(``cli/_complete_args.py``, ``cli/fit.py``) and the sweep config (``sweep/_config_schema.py``).
Values that mean the same thing are one constant here; values that legitimately differ between
two places are named side by side, with why.

Where the measurements are: the recipes' model settings and learning-rate factors in the
docstrings of ``_recipe_steps.py`` (sensing: 60x40 ratings, camera 64x64 inpainting) and
``_complete.py`` (completion: MovieLens-100k, ``benchmarks/movielens.py``,
``benchmarks/imputers.py``); the step and entry counts in ``_complete_defaults.py``.
"""

from __future__ import annotations

# ---------------------------------------------------------------- every model, every entry point
FN = "tanh"
"""The spectral activation (recipes, :class:`SNNCompleter`, ``spectralnn fit --fn``, the
sweep)."""

DEEP_DEPTH = 3
"""Depth of the deep linear factorisation (recipes, :class:`DeepCompleter`,
``spectralnn fit --depth``, the sweep)."""

# ---------------------------------------------------------------- the no-tuning recipes
# Shared by the completion recipe (``complete``), the sensing recipe (``fit_recipe``), the
# completers and ``spectralnn complete``. init scales are in normalised units (unit-norm target).
SNN_WIDTHS = (4, 4)
"""SNN widths (camera 64x64 inpainting: (2, 2) 23.73 dB, (4, 4) 24.65 dB; ``_recipe_steps.py``)."""

SNN_INIT_SCALE = 1e-4
"""SNN init scale (sensing: well under 1% and converged within ~1000 steps; MovieLens: init
1e-2 / 1e-4 / 1e-6 -> 0.949 / 0.939 / 0.940)."""

DEEP_INIT_SCALE = 1e-1
"""Deep factorisation init scale (``X`` starts at ``0.1**3 = 1e-3`` times the identity)."""

FACTOR_INIT_SCALE = 1e-3
"""Two-factor model init scale."""

SNN_COMPLETION_INIT = "orthogonal"
"""The completion recipe's SNN init when parts are averaged (one part: identity;
``_complete_run.py``). The sensing recipe takes the model's own init."""

MAX_STEPS = 2000
"""The recipes' step limit (a 2000 x 2000 rank-10 matrix with 200k entries trains 2000 steps per
part; ``_complete_defaults.AVERAGE_BELOW``)."""

VALIDATION_FRACTION = 0.1
"""Held-out fraction of the observed entries (of each part, for completion)."""

TOL = 1e-3
"""The recipes' early-stopping tolerance."""

SEED = 0
"""The recipes' seed (``seed``, the completers' ``random_state``,
``spectralnn complete --seed``)."""

# Learning-rate factors (rate in units of 1 / curvature). They differ on purpose: the sensing
# recipe races a small grid on a held-out part and keeps the best (on the ratings and camera
# problems, grids (2, 1, 0.5) and (1, 0.5, 0.25) gave identical answers; ``_recipe_steps.py``);
# the completion recipe trains one rate, halved on divergence: on MovieLens factors 0.5 / 1 / 2
# gave 0.9381 / 0.9387 / 0.9384, the same path in more or fewer steps (``_complete.py``).
SENSING_LR_FACTORS = {
    "snn": (2.0, 1.0, 0.5),
    "deep": (1.0, 0.5, 0.25),
    "factor": (1.0, 0.5, 0.25),
    "free": (1.0,),
}
COMPLETION_LR_FACTOR = {"snn": 2.0, "deep": 0.5, "factor": 0.5, "free": 1.0}

# ---------------------------------------------------------------- the paper's protocol
# ``spectralnn fit`` and the sweep config train one model at a given rate, as in the paper, and
# differ from the recipes above (raw units, no held-out part). They share the init and differ
# from each other in size and length: ``fit`` defaults to the paper experiments' SNN (widths
# (2, 2, 2, 2), as ``experiments/configs.ModelSpec``), the sweep to a width-1 SNN on a short run
# (no measurement is recorded for either choice).
PROTOCOL_INIT = "identity"
"""The init of ``spectralnn fit --init`` and the sweep config's ``model.init``."""

FIT_WIDTHS = (2, 2, 2, 2)
FIT_LR = "1e-2"
FIT_STEPS = 10000
FIT_SEED = 42
"""``spectralnn fit``: ``--widths``, ``--lr`` (a string: a number or ``search``), ``--steps``,
``--seed``."""

SWEEP_WIDTHS = (1,)
SWEEP_INIT_SCALE = 1e-3
SWEEP_LR = 0.1
SWEEP_STEPS = 3000
SWEEP_TOL = 1e-10
"""The sweep config's ``model.widths``, ``model.init_scale``, ``train.lr``, ``train.steps``,
``train.tol``."""

SOFTIMPUTE_N_LAMBDAS = 20
SOFTIMPUTE_LAMBDA_RATIO = 1e-4
SOFTIMPUTE_MAX_RANK = 50
SOFTIMPUTE_MAX_ITER = 50
SOFTIMPUTE_TOL = 1e-3
"""softImpute-ALS (``_softimpute.complete`` and ``SoftImputeCompleter``): lambda path length and
end ratio, rank cap, ALS iterations per lambda, relative-change tolerance (measured on
MovieLens-100k: ``SoftImputeCompleter`` docstring)."""
