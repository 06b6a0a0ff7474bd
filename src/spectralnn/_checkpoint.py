"""Resumable checkpoints that cannot run code.

A checkpoint is a ``torch.save`` file of plain containers (dict, list, str, int, float, bool,
None) and tensors, read back with ``torch.load(weights_only=True)``: the restricted unpickler
refuses every other global, so a file with a pickle payload raises instead of running it. A
header records what wrote it (format, version, model class, parameter shapes, method, optimizer,
runs, problem shape); a file that is not a spectralnn checkpoint, or one written for another
fit, is refused with a :class:`~spectralnn.errors.InputError` (a ``ValueError``) naming
``checkpoint`` and what differs. Writes go to a unique temp file in the same folder, are
fsync'ed and renamed over the target, so a crash never leaves a torn checkpoint.
"""

from __future__ import annotations

import os

import torch

from .errors import InputError

FORMAT = "spectralnn-checkpoint"
VERSION = 1


def header(obj, model, optimizer: str, problem) -> dict:
    """What a checkpoint must agree on to be resumed by this fit."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": type(model).__name__,
        "shapes": {k: list(v.shape) for k, v in obj.module.state_dict().items()},
        "method": obj.method,
        "optimizer": optimizer,
        "runs": int(getattr(model, "runs", None) or 0),
        "problem": [*problem.shape, problem.m],
    }


def save(path, head: dict, module, opt, step: int, runs: list, lrs: list) -> None:
    """Write the state after ``step`` completed updates atomically."""
    state = {"header": head, "model": module.state_dict(), "optimizer": opt.state_dict(),
             "step": int(step), "runs": [r.state(step) for r in runs],
             "lr": [float(v) for v in lrs]}
    from ._io import atomic_write

    atomic_write(path, lambda f: torch.save(state, f))


def _describe(head: dict) -> str:
    return ", ".join(f"{k}={head.get(k)!r}" for k in ("model", "method", "optimizer", "runs",
                                                       "problem"))


def saved_lrs(path) -> list:
    """The learning rates a checkpoint was written with (refusing foreign files)."""
    return list(_read(path, None)["lr"])


def _read(path, device):
    path = os.fspath(path)
    where = "The 'checkpoint' parameter of fit"
    try:
        state = torch.load(path, weights_only=True, map_location=device)
    except Exception as exc:  # noqa: BLE001 (restricted unpickler, zip, OS errors: not ours)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{where} must be a spectralnn checkpoint. Got {path!r}, which could "
                         f"not be read as one ({type(exc).__name__}: {msg[:160]}) instead."
                         ) from None
    saved = state.get("header") if isinstance(state, dict) else None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise InputError(f"{where} must be a spectralnn checkpoint. Got {path!r}, a file "
                         "without a spectralnn checkpoint header, instead.")
    if saved.get("version") != VERSION:
        raise InputError(f"{where} must have checkpoint format version {VERSION}. Got version "
                         f"{saved.get('version')!r} in {path!r} instead.")
    return state


def load(path, head: dict, device=None) -> dict:
    """Read a checkpoint written for the fit described by ``head``; refuse anything else."""
    where = "The 'checkpoint' parameter of fit"
    state = _read(path, device)
    saved = state["header"]
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, this fit {head[k]!r}"
             for k in ("model", "method", "optimizer", "runs", "problem", "shapes")
             if saved.get(k) != head[k]]
    if diffs:
        raise InputError(f"{where} must have been written by the same kind of fit. Got "
                         f"{path!r} with a different " + "; ".join(diffs) + " instead.")
    return state
