import math

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn.train import LR_GRID, lr_search


@pytest.fixture(scope="module")
def rank2_problem():
    return snn.make_problem("gaussian", (12, 12), 2, 80, seed=0)


def test_snn_recovers_low_rank_target_where_free_matrix_cannot(rank2_problem):
    snn_fit = snn.fit(
        snn.SNNFactorization((12, 12), (1,), init_scale=1e-3), rank2_problem, 0.1, 3000
    )
    free_fit = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 3000)
    assert snn_fit.final["rel_error"] < 0.1
    assert free_fit.final["rel_error"] > 0.4
    assert free_fit.final["train_loss"] < 1e-10  # it fits the data, just not X*


def test_history_records_every_metric(rank2_problem):
    res = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 50, record_every=10)
    assert [r["step"] for r in res.history] == [0, 10, 20, 30, 40, 50]
    keys = {
        "step",
        "train_loss",
        "test_loss",
        "rel_error",
        "nuclear_norm",
        "singular_values",
        "erank",
        "grad_norm",
        "time",
    }
    assert keys <= set(res.history[0])
    rec = res.history[1]
    X_loss = rank2_problem.loss(res.X).item()
    assert res.history[-1]["train_loss"] == pytest.approx(X_loss)
    assert rec["nuclear_norm"] == pytest.approx(sum(rec["singular_values"]))
    assert res.status == "max_steps"


def test_huge_lr_diverges_cleanly_and_keeps_history(rank2_problem):
    res = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 1e3, 500, record_every=1)
    assert res.status == "diverged" and res.diverged_at is not None
    assert len(res.history) == res.diverged_at
    assert all(math.isfinite(r["train_loss"]) for r in res.history)


def test_tolerance_stops_with_converged(rank2_problem):
    res = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 5000, tol=1e-8)
    assert res.status == "converged" and res.steps < 5000
    assert res.final["train_loss"] <= 1e-8


def test_resume_continues_the_same_trajectory(rank2_problem, tmp_path):
    def model():
        return snn.SNNFactorization((12, 12), (2, 2), init_scale=1e-2, seed=4)

    straight = snn.fit(model(), rank2_problem, 0.05, 300, record_every=50)
    ckpt = tmp_path / "ckpt.pt"
    first = snn.fit(model(), rank2_problem, 0.05, 150, record_every=50, checkpoint=ckpt)
    assert first.steps == 150
    resumed = snn.fit(model(), rank2_problem, 0.05, 300, record_every=50, checkpoint=ckpt)
    assert torch.equal(resumed.X, straight.X)
    assert [r["step"] for r in resumed.history] == [r["step"] for r in straight.history]
    assert resumed.column("train_loss") == straight.column("train_loss")


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_other_optimizers_reduce_the_loss(rank2_problem, optimizer):
    res = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.01, 200, optimizer=optimizer)
    assert res.final["train_loss"] < 1e-2 * res.history[0]["train_loss"]


def test_lr_search_discards_diverged_runs(rank2_problem):
    kept, diverged = lr_search(
        lambda runs: snn.FreeMatrix((12, 12), runs=runs), rank2_problem, 100, keep=2
    )
    assert diverged[:3] == [50.0, 10.0, 5.0]
    assert all(lr > kept[0].lr for lr in diverged)
    assert len(kept) == 2 and all(r.status != "diverged" for r in kept)
    assert kept[0].lr > kept[1].lr and kept[0].lr in LR_GRID


def test_fit_bad_input(rank2_problem):
    with pytest.raises(ValueError, match="'lr' parameter of fit must be a finite number"):
        snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, -1.0, 10)
    with pytest.raises(ValueError, match="'optimizer' parameter of fit.*'adam'"):
        snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 10, optimizer="adma")


@pytest.mark.parametrize(
    "make",
    [
        lambda runs: snn.SNNFactorization((12, 12), (2, 2), init_scale=1e-2, seed=4, runs=runs),
        lambda runs: snn.DeepFactorization((12, 12), depth=3, init_scale=0.3, runs=runs),
        lambda runs: snn.FreeMatrix((12, 12), runs=runs),
    ],
)
def test_batched_runs_equal_looped_runs(rank2_problem, make):
    lrs = [0.05, 0.02, 0.01]
    batched = snn.fit_runs(make(3), rank2_problem, lrs, 200, record_every=50)
    for lr, res in zip(lrs, batched):
        single = snn.fit(make(None), rank2_problem, lr, 200, record_every=50)
        torch.testing.assert_close(res.X, single.X, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.column("train_loss"), single.column("train_loss"), rtol=1e-9)
        assert res.lr == lr and res.status == single.status


def test_batched_divergent_run_is_masked_out(rank2_problem):
    res = snn.fit_runs(snn.FreeMatrix((12, 12), runs=3), rank2_problem, [0.1, 1e3, 0.05], 300)
    assert [r.status for r in res] == ["max_steps", "diverged", "max_steps"]
    single = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.05, 300)
    torch.testing.assert_close(res[2].X, single.X, rtol=1e-9, atol=1e-12)
    assert res[1].diverged_at is not None and res[1].history


def test_batched_reduced_equals_batched_full():
    p = snn.make_problem("aligned", (8, 8), 3, 30, noise=0.01, seed=0, scale=3.0)

    def model():
        return snn.SNNFactorization(
            (8, 8), (2, 2), init="spectral", init_scale=0.5, problem=p, seed=0, runs=2
        )

    full = snn.fit_runs(model(), p, [0.01, 0.002], 200, method="full")
    red = snn.fit_runs(model(), p, [0.01, 0.002], 200, method="reduced")
    for a, b in zip(full, red):
        torch.testing.assert_close(a.X, b.X, rtol=0, atol=1e-10)


def test_fit_runs_needs_matching_rates(rank2_problem):
    with pytest.raises(ValueError, match="one rate per run \\(3\\). Got 2"):
        snn.fit_runs(snn.FreeMatrix((12, 12), runs=3), rank2_problem, [0.1, 0.2], 10)
    with pytest.raises(ValueError, match="use fit_runs"):
        snn.fit(snn.FreeMatrix((12, 12), runs=3), rank2_problem, 0.1, 10)


def test_snapshots_keep_X_at_requested_steps(rank2_problem):
    res = snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 30, snapshot_steps=(0, 10, 30))
    assert sorted(res.snapshots) == [0, 10, 30]
    assert torch.equal(res.snapshots[0], torch.zeros(12, 12, dtype=torch.float64))
    torch.testing.assert_close(res.snapshots[30], res.X)


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_divergence_inside_a_batch_of_deep_models(rank2_problem, optimizer):
    # A run that diverges mid-batch is reset after the backward pass (no in-place error) and its
    # optimizer state is cleared (no NaN leaking into the batched SVDs of later steps).
    res = snn.fit_runs(
        snn.DeepFactorization((12, 12), 3, 0.3, runs=3),
        rank2_problem,
        [1e-3, 10.0, 1e-4],
        300,
        optimizer=optimizer,
    )
    assert [r.status for r in res] == ["max_steps", "diverged", "max_steps"]
    single = snn.fit(
        snn.DeepFactorization((12, 12), 3, 0.3), rank2_problem, 1e-3, 300, optimizer=optimizer
    )
    torch.testing.assert_close(res[0].X, single.X, rtol=1e-9, atol=1e-12)


def test_ctrl_c_leaves_a_resumable_checkpoint(rank2_problem, tmp_path, monkeypatch):
    def model():
        return snn.SNNFactorization((12, 12), (2,), init_scale=1e-2, seed=1)

    straight = snn.fit(model(), rank2_problem, 0.05, 120, record_every=10)
    ckpt = tmp_path / "ckpt.pt"
    calls = {"n": 0}
    op_type = type(rank2_problem.operator)
    real_apply = op_type._apply

    def interrupting_apply(self, X):  # the full objectives measure X through the operator
        calls["n"] += 1
        if calls["n"] == 70:  # Ctrl-C part-way (records measure X too)
            raise KeyboardInterrupt
        return real_apply(self, X)

    monkeypatch.setattr(op_type, "_apply", interrupting_apply)
    with pytest.raises(KeyboardInterrupt):
        snn.fit(
            model(),
            rank2_problem,
            0.05,
            120,
            record_every=10,
            checkpoint=ckpt,
            checkpoint_every=1000,
        )
    monkeypatch.setattr(op_type, "_apply", real_apply)
    saved = torch.load(ckpt, weights_only=True)["step"]
    assert 10 < saved < 120  # written at the interrupt, not by the (disabled) cadence
    resumed = snn.fit(model(), rank2_problem, 0.05, 120, record_every=10, checkpoint=ckpt)
    torch.testing.assert_close(resumed.X, straight.X, rtol=0, atol=0)
    assert resumed.column("step") == straight.column("step")


# --------------------------------------------------------------------------- auto and reduced


def _aligned():
    return snn.make_problem("aligned", (8, 7), 3, 30, noise=0.01, seed=0, scale=3.0)


def _spectral(p, seed=0):
    return snn.SNNFactorization(
        (8, 7), (2, 2), init="spectral", init_scale=0.5, problem=p, seed=seed
    )


@pytest.mark.parametrize("tamper", ["rotate", "copy"])
def test_auto_falls_back_to_full_when_the_spectral_form_is_gone(tamper):
    p = _aligned()

    def tampered():
        model = _spectral(p)
        with torch.no_grad():
            if tamper == "rotate":  # U Q, V Q: the same inputs U V^T, other coordinates
                r = model.U.shape[-1]
                Q = torch.linalg.qr(
                    torch.randn(
                        r, r, dtype=torch.float64, generator=torch.Generator().manual_seed(7)
                    )
                ).Q
                model.U.copy_(model.U @ Q)
                model.V.copy_(model.V @ Q)
            else:  # another model's spectral init (another G) copied in
                other = _spectral(p, seed=5)
                model.U.copy_(other.U)
                model.V.copy_(other.V)
        return model

    with pytest.warns(UserWarning, match="no longer have the spectral form"):
        auto = snn.fit(tampered(), p, 0.01, 60, record_every=20)
    full = snn.fit(tampered(), p, 0.01, 60, record_every=20, method="full")
    assert auto.method == "full"
    assert auto.column("train_loss") == full.column("train_loss")  # step 0 and after
    torch.testing.assert_close(auto.X, full.X, rtol=0, atol=0)
    with pytest.raises(ValueError, match="method='reduced' does not apply: the model's U, V"):
        snn.fit(tampered(), p, 0.01, 1, method="reduced")
    untouched = snn.fit(_spectral(p), p, 0.01, 1)
    assert untouched.method == "reduced"


# --------------------------------------------------------------------------- checkpoints


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # creates the marker file when unpickled


@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_a_pickle_payload_checkpoint_is_never_run(rank2_problem, tmp_path, writer):
    import pickle

    marker, ckpt = tmp_path / "PWNED", tmp_path / "checkpoint.pt"
    payload = {"header": {"format": "spectralnn-checkpoint"}, "x": _Payload(str(marker))}
    if writer == "pickle":
        ckpt.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, ckpt)
    with pytest.raises(
        ValueError, match="'checkpoint' parameter of fit must be a spectralnn checkpoint"
    ):
        snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 10, checkpoint=ckpt)
    assert not marker.exists()


def test_a_foreign_checkpoint_is_refused_naming_what_differs(rank2_problem, tmp_path):
    ckpt = tmp_path / "ck.pt"
    snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 5, checkpoint=ckpt)
    with pytest.raises(
        ValueError,
        match="'checkpoint'.*model: checkpoint 'FreeMatrix', this fit 'SNNFactorization'",
    ):
        snn.fit(snn.SNNFactorization((12, 12), (1,)), rank2_problem, 0.1, 10, checkpoint=ckpt)
    with pytest.raises(
        ValueError, match="'checkpoint'.*optimizer: checkpoint 'gd', this fit 'adam'"
    ):
        snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 10, checkpoint=ckpt, optimizer="adam")
    torch.save({"weights": torch.zeros(3)}, ckpt)  # a plain tensor file, not ours
    with pytest.raises(ValueError, match="without a spectralnn checkpoint header"):
        snn.fit(snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 10, checkpoint=ckpt)
    assert (
        snn.fit(
            snn.FreeMatrix((12, 12)), rank2_problem, 0.1, 3, checkpoint=ckpt, resume=False
        ).steps
        == 3
    )  # resume=False overwrites it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temp files left


def test_fit_refuses_bad_arguments_before_work(rank2_problem, tmp_path):
    free = snn.FreeMatrix((12, 12))
    cases = [
        ({"checkpoint": tmp_path / "c.pt", "checkpoint_every": 0}, "'checkpoint_every'"),
        ({"divergence_factor": 0.0}, "'divergence_factor'"),
        ({"divergence_factor": 1.0}, "'divergence_factor'"),
        ({"divergence_factor": math.inf}, "'divergence_factor'"),
        ({"tol": math.inf}, "'tol'"),
        ({"tol": -1e-3}, "'tol'"),
        ({"tol": math.nan}, "'tol'"),
    ]
    for kwargs, name in cases:
        with pytest.raises(ValueError, match=name):
            snn.fit(free, rank2_problem, 0.1, 10, **kwargs)
    assert not (tmp_path / "c.pt").exists()
    wrong = snn.make_problem("gaussian", (2, 3), 1, 5, seed=0)
    with pytest.raises(ValueError, match=r"problem's shape \(2, 3\).*shape \(3, 2\)"):
        snn.fit(snn.FreeMatrix((3, 2)), wrong, 0.1, 10)
    with pytest.raises(TypeError, match="'problem' parameter of fit must be a Problem"):
        snn.fit(free, "p.npz", 0.1, 10)


def test_ctrl_c_in_lr_search_leaves_a_checkpoint(rank2_problem, tmp_path, monkeypatch):
    ckpt = tmp_path / "search.pt"

    def make(runs):
        return snn.FreeMatrix((12, 12), runs=runs)

    straight, _ = lr_search(make, rank2_problem, 60, keep=2, probe_steps=5, record_every=10)
    real_loss, calls = type(rank2_problem).loss, {"n": 0}

    def interrupting_loss(self, X, test=False):
        if not test and X.ndim == 3:  # the batched run
            calls["n"] += 1
            if calls["n"] == 30:
                raise KeyboardInterrupt
        return real_loss(self, X, test)

    monkeypatch.setattr(type(rank2_problem), "loss", interrupting_loss)
    with pytest.raises(KeyboardInterrupt):
        lr_search(
            make,
            rank2_problem,
            60,
            keep=2,
            probe_steps=5,
            record_every=10,
            checkpoint=ckpt,
            checkpoint_every=1000,
        )
    monkeypatch.setattr(type(rank2_problem), "loss", real_loss)
    assert 0 < torch.load(ckpt, weights_only=True)["step"] < 60
    resumed, _ = lr_search(
        make, rank2_problem, 60, keep=2, probe_steps=5, record_every=10, checkpoint=ckpt
    )
    for a, b in zip(resumed, straight):
        assert a.lr == b.lr and a.column("step") == b.column("step")
        torch.testing.assert_close(a.X, b.X, rtol=0, atol=0)
