"""Resumable checkpoints that cannot run code and cannot be resumed by the wrong fit.

A checkpoint (format 2) is a ``torch.save`` file of plain containers (dict, list, str, int,
float, bool, None) and tensors -- ``{"header", "model", "optimizer", "step", "runs", "lr"}`` --
followed by a trailer ``b"\\nspectralnn-sha256 <64 hex digits>\\n"``: the SHA-256 of every byte
before it (zip readers ignore trailing bytes).  It is read back only after the checksum matched,
and then with ``torch.load(weights_only=True)``: the restricted unpickler refuses every other
global, so a file with a pickle payload raises instead of running it.

The header says what wrote the file: model class, parameter shapes, method, optimizer, runs,
problem size, a SHA-256 of the problem's arrays (operators and measurements), the learning
rates, and the step.  :func:`load` refuses, with an :class:`~spectralnn.errors.InputError`
naming ``checkpoint`` and what differs: a file that is not a checkpoint, any changed byte
(checksum), a header of another fit (other problem of the same size, other rates, model,
method, optimizer), a step outside ``[0, steps]``, non-finite weights (unless a run diverged),
and optimizer or run entries of the wrong kind or shape.  Writes go through
:func:`spectralnn._io.atomic_write` (temp file, fsync, rename), so a crash never leaves a torn
checkpoint.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from typing import NoReturn

import torch

from .errors import InputError

FORMAT = "spectralnn-checkpoint"
VERSION = 2
TRAILER = b"\nspectralnn-sha256 "
_TAIL = len(TRAILER) + 64 + 1
_BUFFERS = {"gd": 0, "momentum": 1, "adam": 2}  # optimizer buffers per parameter
_COMPARED = (
    "model",
    "method",
    "optimizer",
    "runs",
    "problem",
    "problem_sha256",
    "lrs",
    "shapes",
    "params",
)
_STATUSES = ("converged", "max_steps", "diverged")
WHERE = "The 'checkpoint' parameter of fit"


def problem_digest(problem) -> str:
    """SHA-256 of a problem's operators and measurements (training and test sets)."""
    h = hashlib.sha256()
    for op, y in ((problem.operator, problem.y), (problem.test_operator, problem.y_test)):
        if op is None:
            h.update(b"none")
            continue
        arrays = dict(op.arrays())
        arrays["y"] = y.detach().cpu().numpy()
        h.update(str(op.kind).encode())
        for key in sorted(arrays):
            a = arrays[key]
            h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.tobytes() if a.dtype.kind != "U" else str(a).encode())
    return h.hexdigest()


def header(obj, model, optimizer: str, problem, lrs=()) -> dict:
    """What a checkpoint must agree on to be resumed by this fit.  The problem's digest is
    computed on first use (a fit without checkpoint never hashes its problem)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": type(model).__name__,
        "shapes": {k: list(v.shape) for k, v in obj.module.state_dict().items()},
        "params": [list(p.shape) for p in obj.params],
        "method": obj.method,
        "optimizer": optimizer,
        "runs": int(getattr(model, "runs", None) or 0),
        "problem": [*problem.shape, problem.m],
        "problem_sha256": None,
        "lrs": [float(v) for v in lrs],
        "_problem": problem,
    }


def _resolved(head: dict) -> dict:
    if head.get("problem_sha256") is None and head.get("_problem") is not None:
        head["problem_sha256"] = problem_digest(head["_problem"])
    return head


def save(path, head: dict, module, opt, step: int, runs: list, lrs: list) -> None:
    """Write the state after ``step`` completed updates atomically."""
    from ._io import atomic_write

    saved = {k: v for k, v in _resolved(head).items() if not k.startswith("_")}
    saved["step"] = int(step)
    state = {
        "header": saved,
        "model": module.state_dict(),
        "optimizer": opt.state_dict(),
        "step": int(step),
        "runs": [r.state(step) for r in runs],
        "lr": [float(v) for v in lrs],
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    trailer = TRAILER + hashlib.sha256(data).hexdigest().encode() + b"\n"
    atomic_write(path, lambda f: f.write(data + trailer))


def _refuse(path, what: str) -> NoReturn:
    raise InputError(
        f"{WHERE} must be a spectralnn checkpoint (intact, written by this fit). "
        f"Got {path!r}: {what} instead."
    )


def _verified(data: bytes, path) -> bytes:
    """The bytes before the trailer, once their SHA-256 matched it (else InputError)."""
    body, tail = data[:-_TAIL], data[-_TAIL:]
    if len(data) <= _TAIL or not tail.startswith(TRAILER) or not tail.endswith(b"\n"):
        _refuse(
            path,
            "a file without a spectralnn checkpoint header and checksum (not a "
            "checkpoint, or one of an older format: start afresh without resume)",
        )
    if hashlib.sha256(body).hexdigest().encode() != tail[len(TRAILER) : -1]:
        _refuse(path, "a checksum mismatch (the file is damaged or was edited)")
    return body


def _read(path, device=None) -> dict:
    """The checksum-verified state; nothing is unpickled before the checksum matched."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        _refuse(path, f"an unreadable file ({exc.strerror or exc})")
    body = _verified(data, path)
    try:
        state = torch.load(io.BytesIO(body), weights_only=True, map_location=device)

    except Exception as exc:  # noqa: BLE001 (restricted unpickler, zip errors: not ours)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _refuse(path, f"a payload that could not be read ({type(exc).__name__}: {msg[:160]})")
    head = state.get("header") if isinstance(state, dict) else None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        _refuse(path, "a file without a spectralnn checkpoint header")
    if head.get("version") != VERSION:
        _refuse(
            path,
            f"checkpoint format version {head.get('version')!r} (this one reads "
            f"{VERSION}; start afresh without resume)",
        )
    return state


def saved_lrs(path) -> list:
    """The learning rates a checkpoint was written with (refusing foreign or damaged files)."""
    lrs = _read(path)["header"].get("lrs")
    if not isinstance(lrs, list) or not all(isinstance(v, (int, float)) for v in lrs):
        _refuse(os.fspath(path), "a header without learning rates")
    return [float(v) for v in lrs]


def verify(path, problem=None) -> dict:
    """Check a checkpoint's integrity (and, given ``problem``, that it was written for it);
    return its header.  For a command's validation step."""
    head = _read(path)["header"]
    if problem is not None and head.get("problem_sha256") != problem_digest(problem):
        _refuse(
            os.fspath(path),
            "a checkpoint written for a different problem (its arrays differ from this problem's)",
        )
    return head


def _tensor_ok(t, shape) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point() and list(t.shape) == shape


def _check_payload(path, state, saved: dict, steps: int | None) -> None:
    if not isinstance(state, dict) or not {"model", "optimizer", "step", "runs"} <= set(state):
        _refuse(path, "a payload without model, optimizer, step and runs")
    step = state["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step != saved.get("step"):
        _refuse(path, f"a step {step!r} that does not match its header's {saved.get('step')!r}")
    if step < 0 or (steps is not None and step > steps):
        _refuse(
            path,
            f"step {step}, outside [0, {steps if steps is not None else 'steps'}] "
            "(the steps of this fit)",
        )
    weights = state["model"]
    if (
        not isinstance(weights, dict)
        or set(weights) != set(saved["shapes"])
        or not all(_tensor_ok(weights[k], saved["shapes"][k]) for k in weights)
    ):
        _refuse(path, "model weights whose names or shapes differ from its header")
    runs = state["runs"]
    n_runs = max(1, saved["runs"])
    _check_runs(path, runs, n_runs)
    diverged = any(r["status"] == "diverged" for r in runs)
    if not diverged and not all(bool(torch.isfinite(w).all()) for w in weights.values()):
        _refuse(path, "non-finite (NaN or inf) model weights")
    _check_optimizer(path, state["optimizer"], saved, step, n_runs)


def _check_runs(path, runs, n_runs: int) -> None:
    """One well-formed entry per run (history, status, diverged_at, stopped, snapshots)."""
    if not isinstance(runs, list) or len(runs) != n_runs:
        _refuse(path, f"run entries {type(runs).__name__} (expected {n_runs})")
    for r in runs:
        ok = (
            isinstance(r, dict)
            and isinstance(r.get("history"), list)
            and all(isinstance(rec, dict) for rec in r["history"])
            and r.get("status") in _STATUSES
            and all(
                r.get(k) is None or isinstance(r.get(k), int) for k in ("diverged_at", "stopped")
            )
            and isinstance(r.get("snapshots"), dict)
        )
        if not ok:
            _refuse(
                path, "a malformed run entry (history, status, diverged_at, stopped, snapshots)"
            )


def _check_optimizer(path, opt, saved: dict, step: int, n_runs: int) -> None:
    """The optimizer entry: its step count, per-run learning rates and finite state buffers."""
    nbuf = _BUFFERS.get(saved["optimizer"], 0)
    ok = (
        isinstance(opt, dict)
        and isinstance(opt.get("t"), int)
        and not isinstance(opt.get("t"), bool)
        and 0 <= opt["t"] <= step
    )
    ok = (
        ok
        and _tensor_ok(opt.get("lr"), [n_runs])
        and bool(torch.isfinite(opt["lr"]).all())
        and bool((opt["lr"] >= 0).all())
    )
    bufs = opt.get("state") if isinstance(opt, dict) else None
    ok = (
        ok
        and isinstance(bufs, list)
        and len(bufs) == len(saved["params"])
        and all(
            isinstance(b, list)
            and len(b) == nbuf
            and all(_tensor_ok(t, shape) and bool(torch.isfinite(t).all()) for t in b)
            for b, shape in zip(bufs, saved["params"])
        )
    )
    if not ok:
        _refuse(
            path,
            "a malformed optimizer entry (t, lr or state buffers of the wrong kind, "
            "shape or value)",
        )


def load(path, head: dict, device=None, steps: int | None = None) -> dict:
    """Read a checkpoint written for the fit described by ``head`` (up to ``steps``);
    refuse anything else before any state is used."""
    path = os.fspath(path)
    state = _read(path, device)
    saved = state["header"]
    head = _resolved(head)
    diffs = []
    for k in _COMPARED:
        if saved.get(k) != head[k]:
            if k == "problem_sha256":
                diffs.append(
                    "problem arrays: the checkpoint was written for a different "
                    "problem"
                    + (" of the same size" if saved.get("problem") == head["problem"] else "")
                )
            else:
                diffs.append(f"{k}: checkpoint {saved.get(k)!r}, this fit {head[k]!r}")
    if diffs:
        raise InputError(
            f"{WHERE} must have been written by the same fit. Got {path!r} with "
            "a different " + "; ".join(diffs) + " instead."
        )
    _check_payload(path, state, saved, steps)
    if any(not math.isfinite(v) or v <= 0 for v in saved["lrs"]):
        _refuse(path, "non-positive learning rates")
    return state
