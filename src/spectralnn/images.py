"""Real-image targets: scikit-image's shipped images, LFW faces, user files, MNIST IDX files.

:func:`load_image` returns a float64 grayscale array stretched to ``[0, 1]`` (min-max) at the
requested size (the paper's experiments); :func:`load_native` keeps the image's own scale and
size (``recover``'s inpainting: a user's photo comes back in its own units).
Names: ``camera``, ``moon``, ``coins``, ``text``, ``page``, ``clock``, ``astronaut``, ...
(any grayscale-able ``skimage.data`` image), ``lfw:K`` (face K of the 200 in
``skimage.data.lfw_subset()``), ``mnist:PATH[:K]`` (image K of a local IDX file), or a path to an
image file (PNG, JPEG, ...).
"""

from __future__ import annotations

import gzip
import os

import numpy as np

__all__ = ["load_image", "load_native", "read_idx", "SKIMAGE_NAMES"]

SKIMAGE_NAMES = (
    "camera",
    "moon",
    "coins",
    "text",
    "page",
    "clock",
    "astronaut",
    "brick",
    "grass",
    "gravel",
    "horse",
    "checkerboard",
    "cell",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
)


def _to_gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 3:
        from skimage.color import rgb2gray, rgba2rgb

        img = rgb2gray(rgba2rgb(img) if img.shape[-1] == 4 else img)
    img = img.astype(np.float64)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (MNIST's format, optionally gzipped) into a numpy array."""
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(
            f"{os.fspath(path)!r} is not an unsigned-byte IDX file (bad magic number)."
        )
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"IDX file {os.fspath(path)!r} is truncated: header says {dims}.")
    return data.reshape(dims)


def _read_image_file(path: str) -> np.ndarray:
    """Pixels of an image file (PNG, JPEG, TIFF, ...) read with Pillow, file closed on error."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "I", "F", "I;16", "RGB", "RGBA"):
                im = im.convert("RGBA")
            return np.asarray(im)
    except UnidentifiedImageError:
        raise ValueError(
            f"The 'image' parameter must name an image file Pillow can read. "
            f"Got {path!r}, which is not one."
        ) from None


def _load_raw(name: str) -> np.ndarray:
    from skimage import data

    if name.startswith("lfw:"):
        k = int(name[4:])
        faces = data.lfw_subset()
        if not 0 <= k < len(faces):
            raise ValueError(f"Face index {k} out of range [0, {len(faces) - 1}] in {name!r}.")
        return faces[k]
    if name.startswith("mnist:"):
        path, _, index = name[6:].partition(":")
        images = read_idx(path)
        if not (index or "0").isdigit() or int(index or 0) >= len(images):
            raise ValueError(
                f"Image index {index!r} of {name!r} must be an int in the range "
                f"[0, {len(images) - 1}] ({path!r} holds {len(images)} images)."
            )
        return images[int(index or 0)]
    if name in SKIMAGE_NAMES:
        return getattr(data, name)()
    if os.path.isfile(name):
        return _read_image_file(name)
    raise ValueError(
        f"The 'image' parameter must be a file path, 'lfw:K', 'mnist:PATH[:K]' or one of "
        f"{sorted(SKIMAGE_NAMES)}. Got {name!r} (no such file) instead."
    )


def load_image(name: str, size: int | tuple[int, int] = 28) -> np.ndarray:
    """Load ``name`` as grayscale in ``[0, 1]``, resized (anti-aliased) to ``size``.

    Examples
    --------
    >>> from spectralnn.images import load_image
    >>> load_image("camera", 28).shape
    (28, 28)
    """
    from skimage.transform import resize

    shape = (size, size) if isinstance(size, int) else tuple(size)
    img = _to_gray(_load_raw(str(name)))
    if img.shape != shape:
        img = resize(img, shape, anti_aliasing=True)
    return img


_GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray's


def native_peak(img: np.ndarray) -> float:
    """The full-scale value of ``img``'s pixel type: 255 for 8-bit, 65535 for 16-bit, 1 for
    floats in ``[0, 1]`` (else their maximum)."""
    img = np.asarray(img)
    if img.dtype == bool:
        return 1.0
    if img.dtype.kind in "ui":
        if img.dtype.itemsize == 1:
            return 255.0
        if img.size and img.min() >= 0 and img.max() <= 65535:
            return 65535.0  # 16-bit (Pillow reads some as 32-bit "I")
        return float(np.iinfo(img.dtype).max)
    hi = float(np.nanmax(img)) if img.size else 1.0
    return max(1.0, hi)


def _unit_gray(img: np.ndarray, peak: float) -> np.ndarray:
    """Grayscale in ``[0, 1]`` = pixel / peak (no stretch); RGBA composited over white."""
    img = np.asarray(img).astype(np.float64) / peak
    if img.ndim == 3:
        if img.shape[-1] == 4:
            alpha = img[..., 3:]
            img = img[..., :3] * alpha + (1.0 - alpha)
        if img.shape[-1] != 3:
            raise ValueError(f"The image has {img.shape[-1]} channels; expected 1, 3 or 4.")
        img = img @ np.asarray(_GRAY_WEIGHTS)
    if img.ndim != 2:
        raise ValueError(f"The image has shape {img.shape}; expected a 2-D or colour image.")
    if img.size and img.min() < 0:
        raise ValueError("The image has negative pixel values; expected a photo (>= 0).")
    return np.clip(img, 0.0, 1.0)


def load_native(name: str, size: int | tuple[int, int] | None = None):
    """``(image, peak)``: ``name`` as grayscale in its own scale divided by ``peak`` (8-bit:
    pixel / 255, so ``image * peak`` gives the pixels back), at its own size unless ``size``
    is given (then resized, anti-aliased).

    Examples
    --------
    >>> from spectralnn.images import load_native
    >>> img, peak = load_native("camera")
    >>> img.shape, peak, float(img.max()) <= 1.0
    ((512, 512), 255.0, True)
    """
    raw = np.asarray(_load_raw(str(name)))
    peak = native_peak(raw)
    img = _unit_gray(raw, peak)
    if size is not None:
        shape = (size, size) if isinstance(size, int) else tuple(size)
        if img.shape != shape:
            from skimage.transform import resize

            img = np.clip(resize(img, shape, anti_aliasing=True), 0.0, 1.0)
    return img, peak
