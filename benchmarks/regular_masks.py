"""Inpainting under regular masks: the patch recipe against biharmonic inpainting.

    python benchmarks/regular_masks.py [--photo camera] [--size 128]

Random masks show every pair of neighbouring pixels together somewhere; regular ones may not
(every other column missing: no two horizontal neighbours are ever observed). For each mask
this prints the PSNR (dB, peak 255) on the hidden pixels and the seconds of
``spectralnn.recipe.inpaint`` (defaults: the stride it chose, or "biharmonic" where no stride
lets a model of patches learn the mask, see ``spectralnn._patch_mask``), of the same recipe
forced to the default stride (what it did before the mask was checked) and of
``skimage.restoration.inpaint_biharmonic``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _datasets import markdown_table, progress, psnr
from imputers import PHOTOS, load_photo


def masks(shape) -> dict:
    """Regular masks (True = hidden) of an image of ``shape``."""
    out = {}
    m = np.zeros(shape, dtype=bool)
    m[:, 1::2] = True
    out["every other column"] = m
    m = np.zeros(shape, dtype=bool)
    m[1::2, 1::2] = True
    out["one pixel in 4 (odd rows and columns)"] = m
    m = np.zeros(shape, dtype=bool)
    m[::2, :] = True
    m[:, ::2] = True
    out["3 pixels in 4 (upsampling x2)"] = m
    m = np.zeros(shape, dtype=bool)
    m[::3, :] = True
    out["every third row"] = m
    return out


def timed(fn):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    from skimage.restoration import inpaint_biharmonic

    from spectralnn._patches import PATCH, default_stride
    from spectralnn.recipe import inpaint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", default="camera", choices=PHOTOS)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    X = load_photo(args.photo, args.size)
    fixed = default_stride(X.shape, PATCH)
    rows = []
    for name, hidden in masks(X.shape).items():
        M = np.where(hidden, np.nan, X)
        progress(f"{args.photo} {args.size}x{args.size}, {name}")
        res, t_snn = timed(lambda: inpaint(M))
        old, t_old = timed(lambda: inpaint(M, stride=fixed))
        bh, t_bh = timed(lambda: inpaint_biharmonic(np.where(hidden, 0.0, X), hidden))
        how = "biharmonic" if res.method == "biharmonic" else f"stride {res.stride}"
        rows.append(
            [
                name,
                f"{psnr(res.image, X, hidden):.2f} ({how})",
                f"{psnr(old.image, X, hidden):.2f}",
                f"{psnr(bh, X, hidden):.2f}",
                f"{t_snn:.1f} / {t_old:.1f} / {t_bh:.2f}",
            ]
        )
    print(
        f"### {args.photo} {args.size}x{args.size}, regular masks: PSNR (dB, peak 255) on the "
        "hidden pixels\n"
    )
    header = ["mask", "snn", f"snn at stride {fixed}", "biharmonic", "seconds"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
