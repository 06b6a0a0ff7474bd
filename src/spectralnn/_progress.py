"""Progress lines for long runs: :class:`ProgressPrinter`.

A printer is called with one event per training chunk, a dict with the keys

* ``"phase"`` (str: ``"race"``, ``"refit"``, ``"softimpute"``, ...),
* ``"step"`` and ``"max_steps"`` (int),
* ``"held_out"`` (float or None: held-out RMSE in the user's units),
* ``"elapsed"`` (float seconds; measured from the printer's creation when absent),
* ``"eta"`` (float seconds or None; shown only when given).

It writes at most one line every ``every`` seconds, and always the first event of a new phase;
:meth:`ProgressPrinter.close` writes the last event when it was held back.  Lines go to the
stream whether or not it is a terminal: on a terminal one line is redrawn in place, anywhere else
(a file, a pipe, a CI log) every line is a plain line ending in a newline, so a log shows the same
text a terminal did.

The older recipe callback ``progress(step, max_steps, best)`` (``best``: the lowest held-out
loss ``0.5 * mean(residual^2)`` in the recipe's normalised units) is accepted too; it is shown as
a held-out RMSE in the user's units when the printer knows the normalisation scale
(``legacy_scale``, see :func:`completion_scale`), else as the normalised loss, labelled so.
"""

from __future__ import annotations

import math
import sys
import time

__all__ = ["ProgressPrinter", "completion_scale", "format_event"]


def _seconds(t: float) -> str:
    if t < 60:
        return f"{t:.0f} s" if t >= 10 else f"{t:.1f} s"
    if t < 3600:
        return f"{int(t // 60)} min {int(t % 60):02d} s"
    return f"{int(t // 3600)} h {int(t % 3600 // 60):02d} min"


def format_event(event: dict, prefix: str = "") -> str:
    """One line for ``event``, e.g. ``complete: race  step 400/2000  held-out RMSE 0.9312
    2.1 s elapsed  ETA 6.0 s``."""
    parts = [f"{prefix}: {event.get('phase', '')}" if prefix else str(event.get("phase", ""))]
    step, total = event.get("step"), event.get("max_steps")
    if step is not None:
        parts.append(f"step {step}/{total}" if total else f"step {step}")
    held = event.get("held_out")
    if held is not None and math.isfinite(held):
        parts.append(f"held-out RMSE {held:.4g}")
    elif event.get("held_out_loss") is not None:
        parts.append(f"held-out loss {event['held_out_loss']:.4g} (normalised)")
    if event.get("elapsed") is not None:
        parts.append(f"{_seconds(event['elapsed'])} elapsed")
    eta = event.get("eta")
    if eta is not None and math.isfinite(eta):
        parts.append(f"ETA {_seconds(max(eta, 0.0))}")
    return "  ".join(parts)


class ProgressPrinter:
    """Print training progress events as lines on ``stream`` (default: ``sys.stderr``).

    Parameters
    ----------
    stream : file, optional
        Where lines go (``sys.stderr`` as it is when the printer is made, if None).
    every : float, default=3.0
        Seconds between two lines of one phase; the first event of a phase always prints.
    quiet : bool, default=False
        Print nothing (events are still recorded: :attr:`last`).
    prefix : str, default=""
        Put in front of each line (``"complete"`` gives ``complete: race  step ...``).
    legacy_scale : float, optional
        The recipe's normalisation scale, to turn an old-style ``(step, max_steps, best)``
        call's normalised loss into a held-out RMSE in the user's units.
    clock : callable, default=time.monotonic

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> p = ProgressPrinter(out, every=60, prefix="complete")
    >>> p({"phase": "race", "step": 20, "max_steps": 100, "held_out": 0.93, "elapsed": 1.0,
    ...    "eta": 4.0})
    >>> p({"phase": "race", "step": 40, "max_steps": 100, "held_out": 0.9, "elapsed": 2.0,
    ...    "eta": 3.0})
    >>> p.close()
    >>> print(out.getvalue(), end="")
    complete: race  step 20/100  held-out RMSE 0.93  1.0 s elapsed  ETA 4.0 s
    complete: race  step 40/100  held-out RMSE 0.9  2.0 s elapsed  ETA 3.0 s
    """

    def __init__(
        self,
        stream=None,
        every: float = 3.0,
        quiet: bool = False,
        *,
        prefix: str = "",
        legacy_scale: float | None = None,
        clock=time.monotonic,
    ):
        self.stream = sys.stderr if stream is None else stream
        self.every = float(every)
        self.quiet = bool(quiet)
        self.prefix = prefix
        self.legacy_scale = legacy_scale
        self.clock = clock
        self.t0 = clock()
        self.last: dict | None = None  # the latest event
        self._printed = True  # the latest event was written
        self._phase = None
        self._t_print = -math.inf
        self._open_line = False  # a terminal line is waiting for its newline
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def _event(self, args, kwargs) -> dict:
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            return dict(args[0])
        if len(args) == 3 and not kwargs:  # the recipe's old progress(step, max_steps, best)
            step, total, best = args
            held, loss = None, None
            if best is not None and math.isfinite(best):
                if self.legacy_scale is not None:
                    held = self.legacy_scale * math.sqrt(2.0 * max(float(best), 0.0))
                else:
                    loss = float(best)
            return {
                "phase": "race",
                "step": int(step),
                "max_steps": int(total),
                "held_out": held,
                "held_out_loss": loss,
                "elapsed": None,
                "eta": None,
            }
        raise TypeError(
            "ProgressPrinter is called as printer(event_dict) or printer(step, max_steps, best)"
        )

    def __call__(self, *args, **kwargs) -> None:
        event = self._event(args, kwargs)
        now = self.clock()
        if event.get("elapsed") is None:
            event["elapsed"] = now - self.t0
        new_phase = event.get("phase") != self._phase
        self._phase = event.get("phase")
        self.last, self._printed = event, False
        if self.quiet:
            return
        if new_phase or now - self._t_print >= self.every:
            self._write(event, new_phase)
            self._t_print = now

    def note(self, message: str) -> None:
        """A line of other text (a warning, a result) without breaking a redrawn line."""
        if self.quiet:
            return
        self._end_line()
        print(message, file=self.stream, flush=True)

    def _end_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False

    def _write(self, event: dict, new_line: bool) -> None:
        line = format_event(event, self.prefix)
        if self._tty:
            if new_line:
                self._end_line()
            self.stream.write("\r" + line + "\x1b[K")
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._printed = True

    def close(self) -> None:
        """Write the last event if it was held back, and end a redrawn line."""
        if not self.quiet and self.last is not None and not self._printed:
            self._write(self.last, False)
        if not self.quiet:
            self._end_line()
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def completion_scale(values) -> float:
    """The recipe's normalisation scale of a matrix with NaN for missing entries (offset = the
    observed mean; ``scale = sqrt(sum (y - offset)^2 * d1 * d2 / m)``), as
    :func:`spectralnn.recipe.normalize` computes it for completion."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    y = values[~np.isnan(values)]
    if y.size == 0:
        return 1.0
    scale = math.sqrt(float(((y - y.mean()) ** 2).sum()) * values.size / y.size)
    return scale if scale > 0 and math.isfinite(scale) else 1.0
