"""The images of ``spectralnn recover``: its default sizes and step counts, reading an image or a
mask (a built-in demo name or a file), and a result's PNG and PSNR.

Both :mod:`~spectralnn.cli.recover` and its inpainting mode (:mod:`~spectralnn.cli._inpaint`)
import from here. numpy and PIL are imported where they are used, so that
``spectralnn recover --help`` imports neither."""

from __future__ import annotations

import io

from ._common import UsageError

DEMO_SIZE = 28
DEMO_INPAINT_SIZE = 256
"""Inpainting a demo image (``--missing``/``--mask``) uses it at 256 x 256: at 28 x 28 the SNN
was 3 dB behind SoftImpute (17.9 vs 21.3), at 256 ahead (camera, 50%: 24.16 vs 23.90 dB).
The Gaussian mode keeps :data:`DEMO_SIZE` (its dense operator has fraction * size^4 entries)."""
"""Default side of the built-in demo images, and of the Gaussian mode (its dense measurement
operator has fraction * size^4 entries)."""
GAUSSIAN_STEPS, INPAINT_STEPS = 2500, 2000


def is_demo(name: str) -> bool:
    """Whether ``name`` is a built-in demo image (camera, moon, ..., lfw:K, mnist:PATH[:K])."""
    from ..images import SKIMAGE_NAMES

    return name in SKIMAGE_NAMES or name.startswith(("lfw:", "mnist:"))


def read_image(name: str, size, flag: str):
    """``(image, peak)`` in the image's own scale (:func:`spectralnn.images.load_native`); a
    file that cannot be read is a UsageError naming ``flag``."""
    from ..images import load_native

    try:
        return load_native(name, size)
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"{flag} {name!r}: {str(exc).strip().splitlines()[0]}") from exc


def peak_name(peak: float) -> str:
    """``"peak 255, 8-bit"`` and the like, for the output."""
    kind = {255.0: "8-bit", 65535.0: "16-bit", 1.0: "float image"}.get(peak, "image maximum")
    return f"peak {peak:g}, {kind}"


def shown(observed, missing):
    """The observed image in gray with the missing pixels in red (an RGB array)."""
    import numpy as np

    rgb = np.repeat(np.clip(np.nan_to_num(observed), 0, 1)[..., None], 3, axis=-1)
    rgb[missing] = (0.85, 0.1, 0.1)
    return rgb


def peak_psnr(X, img, where=None) -> float:
    """PSNR of ``X`` against ``img`` (both in units of the peak): ``20 log10(1 / RMSE)``."""
    import numpy as np

    d = (X - img) if where is None else (X - img)[where]
    rmse = float(np.sqrt(np.mean(d * d)))
    return float("inf") if rmse == 0 else 20 * np.log10(1.0 / rmse)


def png_bytes(X, peak: float) -> bytes:
    """The image in its bit depth (8-bit for peak 255, 16-bit for 65535, else 8-bit of [0, 1])."""
    import numpy as np
    from PIL import Image

    if peak == 65535.0:
        arr = np.rint(X * 65535).astype(np.uint16)
    else:
        arr = np.rint(X * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
