"""Shared analytic problems and helpers (see STYLE.md rule 12); hypothesis profiles."""

import os
from collections import Counter

import pytest
import torch
from hypothesis import HealthCheck, settings

import spectralnn as snn

# Per-dtype tolerances for identities that should hold to rounding.
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def finite_difference_grad(fn, X, W, eps=1e-6):
    """Central differences of <fn(X), W> w.r.t. every entry of X (float64)."""
    g = torch.zeros_like(X)
    flat = g.view(-1)
    for i in range(X.numel()):
        E = torch.zeros_like(X).view(-1)
        E[i] = eps
        E = E.view_as(X)
        flat[i] = ((fn(X + E) * W).sum() - (fn(X - E) * W).sum()) / (2 * eps)
    return g


def random_orthogonal(n, generator, dtype=torch.float64):
    return torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=dtype)).Q


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def small_gaussian_problem():
    return snn.make_problem("gaussian", (8, 8), 1, 40, seed=3)


# --------------------------------------------------------------------------- fuzz suite
# Hypothesis profiles: "default" keeps tests/test_fuzz.py well under a minute; "slow" runs
# >= 10,000 generated inputs over the whole file. "slow" is chosen by HYPOTHESIS_PROFILE=slow or
# by a run that selects slow tests (`-m slow`), which then also selects the fuzz tests.

_FUZZ_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=_FUZZ_HEALTH,
    print_blob=True,
)
settings.register_profile(
    "slow", max_examples=1400, deadline=None, suppress_health_check=_FUZZ_HEALTH, print_blob=True
)


def _selects_slow(config) -> bool:
    expr = (config.getoption("markexpr", "") or "").replace(" ", "")
    return "slow" in expr and "notslow" not in expr


def pytest_configure(config):
    if not config.getoption("hypothesis_profile", None):  # an explicit flag wins
        slow = "slow" if _selects_slow(config) else "default"
        settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or slow)
    config._fuzz_counter = Counter()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if _selects_slow(config):  # `-m slow` runs the fuzz suite with the slow profile
        for item in items:
            if item.nodeid.split("::")[0].endswith("test_fuzz.py"):
                item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def fuzz_counter(request):
    """Counts generated inputs by outcome ("valid" / "invalid"); reported at the end."""
    return request.config._fuzz_counter


def pytest_terminal_summary(terminalreporter, config):
    counts = getattr(config, "_fuzz_counter", None)
    if counts:
        terminalreporter.write_line(
            f"fuzz: {sum(counts.values())} generated inputs ({counts['valid']} valid, "
            f"{counts['invalid']} invalid) under hypothesis profile "
            f"{settings._current_profile!r}"
        )
