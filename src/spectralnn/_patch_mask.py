"""What a mask lets a model of patches learn (``_patches.py``), decided from the mask alone.

A model of an image's ``p x p`` patches (the SNN and the Gaussian mixture of ``_gaussian.py``
on the ``(#patches) x p^2`` matrix) learns how a pixel relates to its neighbours from patches
in which both are observed. A regular mask can leave some pair of neighbouring positions of
the patch never observed together: every other pixel column missing (no two horizontal
neighbours are ever observed, at any stride), or one pixel in four missing on the odd rows
and columns (at stride 2 every patch starts on an even pixel, so one position of the patch is
never observed at all; at stride 3 they are). On camera 128 x 128 the patch recipe then came
out 21.4, 21.4 and 4.8 dB (every other column, one in four, three in four missing) against
biharmonic inpainting's 26.0, 31.0 and 26.8 dB.

:func:`choose_stride` keeps the default stride where every pair of neighbouring positions is
observed together in some patch, else takes the nearest stride that does so (within the row
budget); where none does, no model of patches can learn those neighbours from this image and
:func:`smooth_fill` (biharmonic interpolation) fills it instead, with a :class:`MaskWarning`.
"""

from __future__ import annotations

import numpy as np

from .errors import MaskWarning, warn_user


def corners(shape, patch: int, stride: int):
    """Top-left corners ``(ys, xs)`` of the patches: every ``stride`` pixels, plus the last
    position so that the patches cover the whole image."""

    def axis(n):
        pos = list(range(0, n - patch + 1, stride))
        if pos[-1] != n - patch:
            pos.append(n - patch)
        return np.asarray(pos)

    return axis(shape[0]), axis(shape[1])


def neighbour_counts(observed: np.ndarray, patch: int, stride: int) -> np.ndarray:
    """For each pair of neighbouring positions in a ``patch x patch`` patch (each position and
    the one to its right, then each and the one below), how many of the image's patches at
    ``stride`` (:func:`corners`) observe both pixels."""
    ys, xs = corners(observed.shape, patch, stride)
    counts = []
    for both, window in (
        (observed[:, :-1] & observed[:, 1:], (patch, patch - 1)),  # right neighbours
        (observed[:-1, :] & observed[1:, :], (patch - 1, patch)),  # neighbours below
    ):
        views = np.lib.stride_tricks.sliding_window_view(both, window)
        counts.append(views[ys[:, None], xs[None, :]].sum(axis=(0, 1)).reshape(-1))
    return np.concatenate(counts)


def learnable(observed: np.ndarray, patch: int, stride: int) -> bool:
    """Whether every pair of neighbouring positions is observed together in some patch."""
    return bool(neighbour_counts(observed, patch, stride).min() > 0)


def choose_stride(observed: np.ndarray, patch: int, default: int, max_rows: int) -> int | None:
    """``default`` if the mask lets a model of patches learn every pair of neighbours there
    (:func:`learnable`), else the stride nearest to it (the smaller first) that does and
    makes at most ``max_rows`` patches (or as many as the default); None if no stride does."""

    def rows(s):
        ys, xs = corners(observed.shape, patch, s)
        return len(ys) * len(xs)

    limit = max(max_rows, rows(default))
    others = [s for s in range(1, patch + 1) if s != default and rows(s) <= limit]
    for s in [default, *sorted(others, key=lambda s: (abs(s - default), s))]:
        if learnable(observed, patch, s):
            if s != default:
                warn_user(
                    MaskWarning(
                        f"the mask never shows some neighbouring pixels of a patch together "
                        f"at stride {default} (a regular pattern?): patches taken every {s} "
                        "pixels instead"
                    )
                )
            return s
    return None


def check_stride(observed: np.ndarray, patch: int, stride: int) -> None:
    """A :class:`MaskWarning` if a stride the user asked for does not let a model of patches
    learn every pair of neighbours (:func:`learnable`); the stride is kept as asked."""
    if not learnable(observed, patch, stride):
        warn_user(
            MaskWarning(
                f"the mask never shows some neighbouring pixels of a patch together at "
                f"stride {stride} (as given; a regular pattern?): the patches cannot learn "
                "them; the default stride (stride=None) picks one that can, or biharmonic "
                "interpolation"
            )
        )


def smooth_fill(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``image`` with its ``missing`` pixels filled by biharmonic interpolation (scikit-image),
    with a :class:`MaskWarning` saying why: no stride lets a model of patches learn them."""
    from skimage.restoration import inpaint_biharmonic

    warn_user(
        MaskWarning(
            "the mask never shows some neighbouring pixels together at any patch stride (a "
            "regular pattern such as every other pixel column missing): no model of patches "
            "can learn them from this image; filled by biharmonic interpolation instead"
        )
    )
    low, high = float(np.nanmin(image)), float(np.nanmax(image))
    out = inpaint_biharmonic(np.where(missing, 0.0, image), missing)
    return np.where(missing, np.clip(out, low, high), image)
