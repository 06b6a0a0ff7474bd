"""Argument checks of the training loop: the model, the problem, the rates and the settings."""

from __future__ import annotations

from torch import nn

from ._validation import check_choice, check_int, check_positive, check_real
from .errors import InputError, InputTypeError
from .sensing import Problem

OPTIMIZERS = ("gd", "momentum", "adam")


def _check_lrs(lrs, runs):
    if isinstance(lrs, (int, float)):
        lrs = [lrs] * (runs or 1)
    lrs = [check_positive(lr, "lr", "fit") for lr in lrs]
    if len(lrs) != (runs or 1):
        raise InputError(
            f"The 'lr' parameter of fit_runs must have one rate per run "
            f"({runs}). Got {len(lrs)} rates instead."
        )
    return lrs


def _check_model_and_problem(model, problem, where: str):
    if not isinstance(model, nn.Module):
        raise InputTypeError(
            f"The 'model' parameter of {where} must be an nn.Module with "
            f"forward() -> X. Got {type(model).__name__} instead."
        )
    if not isinstance(problem, Problem):
        raise InputTypeError(
            f"The 'problem' parameter of {where} must be a Problem. Got "
            f"{type(problem).__name__} instead."
        )
    shape = getattr(model, "shape", None)
    if shape is not None and tuple(shape) != tuple(problem.shape):
        raise InputError(
            f"The 'model' parameter of {where} must have the problem's shape "
            f"{tuple(problem.shape)}. Got a model of shape {tuple(shape)} instead."
        )
    first = next(iter(model.parameters()), None)
    if first is None:
        raise InputError(f"The 'model' parameter of {where} has no trainable parameters.")
    return first


def _check_train_args(
    steps, optimizer, record_every, checkpoint_every, tol, divergence_factor, where="fit"
):
    steps = check_int(steps, "steps", where, 0)
    check_choice(optimizer, "optimizer", where, OPTIMIZERS)
    record_every = (
        max(1, steps // 100)
        if record_every is None
        else check_int(record_every, "record_every", where, 1)
    )
    checkpoint_every = (
        record_every
        if checkpoint_every is None
        else check_int(checkpoint_every, "checkpoint_every", where, 1)
    )
    if tol is not None:
        tol = check_real(tol, "tol", where, low=0.0)
    divergence_factor = check_real(
        divergence_factor, "divergence_factor", where, low=1.0, low_open=True
    )
    return steps, record_every, checkpoint_every, tol, divergence_factor
