"""Regular masks: the stride of the patches, or biharmonic interpolation where no stride lets a
model of patches see neighbouring pixels together."""

import warnings

import numpy as np
import pytest
from skimage.restoration import inpaint_biharmonic

from spectralnn import _patch_mask
from spectralnn._patches import corners
from spectralnn.errors import MaskWarning
from spectralnn.recipe import inpaint


def _brute_counts(observed, patch, stride):
    """:func:`_patch_mask.neighbour_counts` by looping over every patch and position."""
    ys, xs = corners(observed.shape, patch, stride)
    right = np.zeros((patch, patch - 1), dtype=int)
    down = np.zeros((patch - 1, patch), dtype=int)
    for y in ys:
        for x in xs:
            P = observed[y : y + patch, x : x + patch]
            right += P[:, :-1] & P[:, 1:]
            down += P[:-1, :] & P[1:, :]
    return np.concatenate([right.reshape(-1), down.reshape(-1)])


@pytest.mark.parametrize("shape, patch, stride", [((23, 30), 5, 2), ((16, 16), 4, 3)])
def test_neighbour_counts_match_a_loop_over_the_patches(shape, patch, stride):
    observed = np.random.default_rng(1).random(shape) < 0.6
    np.testing.assert_array_equal(
        _patch_mask.neighbour_counts(observed, patch, stride),
        _brute_counts(observed, patch, stride),
    )


def _masks(shape):
    odd = np.zeros(shape, dtype=bool)
    odd[1::2, 1::2] = True  # one pixel in four missing: never seen at stride 2, seen at 3
    column = np.zeros(shape, dtype=bool)
    column[:, 1::2] = True  # every other column: no two horizontal neighbours ever seen
    return odd, column


def test_a_stride_is_chosen_from_the_mask_alone():
    odd, column = _masks((64, 64))
    random = np.random.default_rng(0).random((64, 64)) < 0.5
    assert _patch_mask.choose_stride(~random, 8, 2, 16384) == 2  # nothing to change
    assert not _patch_mask.learnable(~odd, 8, 2)
    with pytest.warns(MaskWarning, match="every 1 pixels"):  # 57^2 patches: within budget
        assert _patch_mask.choose_stride(~odd, 8, 2, 16384) == 1
    with pytest.warns(MaskWarning, match="every 3 pixels"):  # stride 1 over the budget
        assert _patch_mask.choose_stride(~odd, 8, 2, 1000) == 3
    assert all(not _patch_mask.learnable(~column, 8, s) for s in range(1, 9))
    assert _patch_mask.choose_stride(~column, 8, 2, 16384) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _patch_mask.check_stride(~random, 8, 2)  # a stride that can learn: nothing said
        _patch_mask.check_stride(~odd, 8, 3)
    with pytest.warns(MaskWarning, match="stride 2 .as given"):
        _patch_mask.check_stride(~odd, 8, 2)


def _texture(n=32, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n]
    return 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 2, (n, n))


def test_a_mask_no_stride_can_learn_is_filled_by_biharmonic_interpolation():
    img = _texture()
    _, column = _masks(img.shape)
    M = np.where(column, np.nan, img)
    with pytest.warns(MaskWarning, match="biharmonic"):
        res = inpaint(M)
    assert res.method == "biharmonic" and res.completion is None
    expected = inpaint_biharmonic(np.where(column, 0.0, img), column)
    np.testing.assert_allclose(res.image[column], expected[column], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.image[~column], img[~column])
    assert np.abs(res.image - img)[column].mean() < 5.0  # the noise is 2; mean fill 40


@pytest.mark.filterwarnings("ignore::spectralnn.recipe.StillImprovingWarning")
def test_a_mask_hiding_a_patch_position_at_the_default_stride_changes_the_stride():
    # at stride 2 the odd-odd pixel is position (1, 1) of every patch: never observed
    img = _texture()
    odd, _ = _masks(img.shape)
    M = np.where(odd, np.nan, img)
    with pytest.warns(MaskWarning, match="every 1 pixels"):
        res = inpaint(M, max_steps=300)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        old = inpaint(M, stride=2, max_steps=300)  # the stride asked for is kept, with a word
    said = [str(w.message) for w in record if issubclass(w.category, MaskWarning)]
    assert len(said) == 1 and "stride 2 (as given" in said[0]
    assert (res.stride, old.stride, res.method) == (1, 2, "patches")
    err, old_err = (np.abs(r.image - img)[odd].mean() for r in (res, old))
    assert err < 0.5 * old_err, (err, old_err)
