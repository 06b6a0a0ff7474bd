"""Metrics against hand values; spectral soft-threshold and clamp; image loaders and problems."""

import gzip
import math

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn import metrics
from spectralnn.images import load_image, read_idx
from spectralnn.sensing import make_image_problem

D = torch.float64


def test_relative_error_hand_values_and_batching():
    X_true = torch.diag(torch.tensor([3.0, 4.0], dtype=D))  # ||X*||_F = 5
    X = torch.diag(torch.tensor([3.0, 0.0], dtype=D))  # ||X - X*||_F = 4
    assert metrics.relative_error(X, X_true).item() == pytest.approx(0.8, abs=1e-15)
    batch = torch.stack([X, X_true, torch.zeros(2, 2, dtype=D)])
    torch.testing.assert_close(
        metrics.relative_error(batch, X_true), torch.tensor([0.8, 0.0, 1.0], dtype=D)
    )
    nan = torch.full((2, 2), float("nan"), dtype=D)  # a diverged run gives NaN, not an error
    assert math.isnan(metrics.relative_error(nan, X_true).item())


def test_relative_error_refuses_bad_references():
    X = torch.ones(2, 2, dtype=D)
    with pytest.raises(ValueError, match="'X_true' parameter of relative_error must be nonzero"):
        metrics.relative_error(X, torch.zeros(2, 2, dtype=D))
    with pytest.raises(
        ValueError,
        match=r"'X_true' parameter of relative_error must have the "
        r"shape of X.*Got shape \(3, 2\)",
    ):
        metrics.relative_error(X, torch.ones(3, 2, dtype=D))
    with pytest.raises(ValueError, match="'X_true' parameter of relative_error must be finite"):
        metrics.relative_error(X, torch.tensor([[1.0, float("inf")], [0, 0]], dtype=D))
    with pytest.raises(TypeError, match="'X' parameter of relative_error.*float16"):
        metrics.relative_error(X.half(), X)
    with pytest.raises(TypeError, match="'X_true' parameter of relative_error must be a torch"):
        metrics.relative_error(X, X.numpy())


def test_psnr_hand_values():
    X_true = torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=D)  # peak 1
    X = X_true + torch.tensor([[0.1, -0.1], [0.1, -0.1]], dtype=D)  # RMSE 0.1
    assert metrics.psnr(X, X_true) == pytest.approx(20.0, abs=1e-12)
    Y_true = torch.tensor([[-2.0, 1.0], [0.0, 0.0]], dtype=D)  # peak |-2| = 2
    Y = Y_true + 0.5  # RMSE 0.5: 20 log10(4) = 12.0412 dB
    assert metrics.psnr(Y, Y_true) == pytest.approx(12.041199826559248, abs=1e-12)
    assert metrics.psnr(X_true, X_true) == math.inf
    with pytest.raises(ValueError, match="'X_true' parameter of psnr must have the shape of X"):
        metrics.psnr(X.expand(2, 2, 2), X_true)
    with pytest.raises(ValueError, match="'X_true' parameter of psnr must be nonzero"):
        metrics.psnr(X, torch.zeros(2, 2, dtype=D))


def test_effective_rank_and_nuclear_norm_hand_values():
    assert snn.effective_rank(
        torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=D))
    ).item() == pytest.approx(2.0, abs=1e-14)
    p = (0.75, 0.25)  # singular values (3, 1)
    expected = math.exp(-sum(q * math.log(q) for q in p))
    Q = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=D)).Q
    X = Q[:, :2] @ torch.diag(torch.tensor([3.0, 1.0], dtype=D)) @ Q[:2, :]  # not diagonal
    assert snn.effective_rank(X).item() == pytest.approx(expected, abs=1e-12)
    assert snn.effective_rank(torch.zeros(3, 2, dtype=D)).item() == 0.0
    assert snn.nuclear_norm(X).item() == pytest.approx(4.0, abs=1e-12)
    assert metrics.effective_rank is snn.effective_rank


def test_alignment_hand_values():
    gen = torch.Generator().manual_seed(1)
    Phi = torch.linalg.qr(torch.randn(5, 2, generator=gen, dtype=D)).Q
    Psi = torch.linalg.qr(torch.randn(4, 2, generator=gen, dtype=D)).Q
    aligned = Phi @ torch.diag(torch.tensor([2.0, 1.0], dtype=D)) @ Psi.mT
    assert metrics.alignment(aligned, Phi, Psi).item() < 1e-14
    crossed = torch.outer(Phi[:, 0], Psi[:, 1])  # all mass off the diagonal
    assert metrics.alignment(crossed, Phi, Psi).item() == pytest.approx(1.0, abs=1e-12)
    mixed = aligned + crossed  # off-diagonal mass 1 of ||X||_F = sqrt(4 + 1 + 1)
    assert metrics.alignment(mixed, Phi, Psi).item() == pytest.approx(6**-0.5, abs=1e-12)
    with pytest.raises(ValueError, match="'Phi' and 'Psi' parameters of alignment"):
        metrics.alignment(aligned, Psi, Phi)


def test_record_recomputed_from_its_matrix():
    p = snn.make_problem("gaussian", (5, 4), 2, 15, noise=0.01, seed=0)
    X = torch.randn(5, 4, generator=torch.Generator().manual_seed(2), dtype=D)
    rec = metrics.record(X, p, grad_norm=0.5)
    A = p.operator.dense()
    train = 0.5 * np.mean([((A[i] * X).sum() - p.y[i]).item() ** 2 for i in range(p.m)])
    assert rec["train_loss"] == pytest.approx(train, rel=1e-12)
    assert rec["rel_error"] == pytest.approx(
        (torch.linalg.norm(X - p.X_true) / torch.linalg.norm(p.X_true)).item(), rel=1e-12
    )
    s = np.linalg.svd(X.numpy(), compute_uv=False)
    assert rec["nuclear_norm"] == pytest.approx(s.sum(), rel=1e-12)
    np.testing.assert_allclose(rec["singular_values"], s, rtol=1e-12)
    q = s / s.sum()
    assert rec["erank"] == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-12)
    assert rec["grad_norm"] == 0.5
    with pytest.raises(ValueError, match=r"'X' parameter of record must have the problem's"):
        metrics.record(X.mT, p)


def _usv(s, gen):
    U = torch.linalg.qr(torch.randn(5, 3, generator=gen, dtype=D)).Q
    V = torch.linalg.qr(torch.randn(4, 3, generator=gen, dtype=D)).Q
    return U, V, U @ torch.diag(torch.tensor(s, dtype=D)) @ V.mT


def test_soft_threshold_and_clamp_act_on_singular_values(gen):
    U, V, X = _usv([2.0, 0.5, 0.05], gen)
    soft = snn.spectral_apply(X, "soft_threshold")  # lambda = 0.1
    torch.testing.assert_close(
        soft, U @ torch.diag(torch.tensor([1.9, 0.4, 0.0], dtype=D)) @ V.mT, rtol=0, atol=1e-12
    )
    clamp = snn.spectral_apply(X, "clamp")  # c = 1
    torch.testing.assert_close(
        clamp, U @ torch.diag(torch.tensor([1.0, 0.5, 0.05], dtype=D)) @ V.mT, rtol=0, atol=1e-12
    )


# --------------------------------------------------------------------------- images


def _idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


@pytest.fixture
def idx_file(tmp_path):
    arr = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 7 % 256).astype(np.uint8)
    path = tmp_path / "imgs.idx"
    path.write_bytes(_idx_bytes(arr))
    return path, arr


def test_read_idx_plain_gzipped_and_broken(idx_file, tmp_path):
    path, arr = idx_file
    assert np.array_equal(read_idx(path), arr) and read_idx(path).dtype == np.uint8
    gz = tmp_path / "imgs.idx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert np.array_equal(read_idx(gz), arr)
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")  # float32 magic
    with pytest.raises(ValueError, match="bad magic number"):
        read_idx(bad)
    short = tmp_path / "short.idx"
    short.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"truncated: header says \[2, 3, 4\]"):
        read_idx(short)


def test_load_image_mnist_entry(idx_file):
    path, arr = idx_file
    img = load_image(f"mnist:{path}:1", (3, 4))  # native size: no resampling
    expected = (arr[1] - arr[1].min()) / (arr[1].max() - arr[1].min())
    np.testing.assert_allclose(img, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        load_image(f"mnist:{path}", (3, 4)), (arr[0] - arr[0].min()) / (arr[0].max() - arr[0].min())
    )
    small = load_image(f"mnist:{path}:1", 2)
    assert small.shape == (2, 2) and 0 <= small.min() and small.max() <= 1


def test_load_image_from_png_file(tmp_path):
    from skimage import io

    arr = np.add.outer(np.arange(6) * 20, np.arange(5) * 10).astype(np.uint8)  # 0..140
    path = tmp_path / "ramp.png"
    io.imsave(path, arr, check_contrast=False)
    img = load_image(str(path), (6, 5))
    np.testing.assert_allclose(img, arr / 140.0, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="'image' parameter must be a file path"):
        load_image(str(tmp_path / "missing.png"), 5)


def test_make_image_problem_from_a_file(tmp_path):
    from skimage import io

    arr = np.add.outer(np.arange(6) * 20, np.arange(5) * 10).astype(np.uint8)
    path = str(tmp_path / "ramp.png")
    io.imsave(path, arr, check_contrast=False)
    p, factor = make_image_problem(path, (6, 5), fraction=0.5, noise=0.0, seed=1)
    assert p.m == 15 and p.shape == (6, 5) and p.operator.kind == "dense"
    assert snn.nuclear_norm(p.X_true).item() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose((p.X_true * factor).numpy(), arr / 140.0, atol=1e-12)
    assert p.loss(p.X_true).item() == 0.0  # noiseless: y = A(X*)
    with pytest.raises(ValueError, match="'fraction' parameter of make_image_problem"):
        make_image_problem(path, (6, 5), fraction=0.0)
    with pytest.raises(TypeError, match="'image' parameter of make_image_problem"):
        make_image_problem(3)
