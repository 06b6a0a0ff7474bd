"""The elementwise optimizers of _optim.py, step by step against torch.optim."""

import pytest
import torch

from spectralnn._optim import Optimizer

STEPS = 12


def _grad(p: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Gradient of a non-quadratic objective sum(sin(p) * W) + |p|^4 / 4 (changes every step)."""
    p = p.detach().requires_grad_()
    loss = (torch.sin(p) * W).sum() + 0.25 * (p**2).sum() ** 2
    return torch.autograd.grad(loss, p)[0]


def _reference(name: str, p: torch.Tensor, lr: float):
    if name == "gd":
        return torch.optim.SGD([p], lr=lr)
    if name == "momentum":
        return torch.optim.SGD([p], lr=lr, momentum=0.9)
    return torch.optim.Adam([p], lr=lr)


def _shapes(gen):
    return [
        torch.randn(3, 4, generator=gen, dtype=torch.float64),
        torch.randn(2, 5, 3, generator=gen, dtype=torch.float64),
    ]


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_unbatched_steps_match_torch_optim(name, gen):
    start = _shapes(gen)
    W = [torch.randn_like(p) for p in start]
    ours = [p.clone() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    opt = Optimizer(name, ours, torch.tensor([0.03], dtype=torch.float64), batched=False)
    refs = [_reference(name, p, 0.03) for p in theirs]
    for _ in range(STEPS):
        opt.step([_grad(p, w) for p, w in zip(ours, W)])
        for p, w, ref in zip(theirs, W, refs):
            p.grad = _grad(p, w)
            ref.step()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-14)
    assert not torch.equal(ours[0], start[0])  # it moved


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_batched_runs_use_their_own_rate_and_never_mix(name, gen):
    lrs = [0.01, 0.05, 0.0]  # the last run is frozen from the start
    start = [torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)]
    W = torch.randn(4, 2, generator=gen, dtype=torch.float64)
    ours = [start[0].clone()]
    opt = Optimizer(name, ours, torch.tensor(lrs, dtype=torch.float64), batched=True)
    theirs = [start[0][i].clone().requires_grad_() for i in range(3)]
    refs = [_reference(name, p, lr) for p, lr in zip(theirs, lrs)]
    for _ in range(STEPS):
        opt.step([torch.stack([_grad(ours[0][i], W) for i in range(3)])])
        for p, ref in zip(theirs, refs):
            p.grad = _grad(p, W)
            ref.step()
        for i in range(3):
            torch.testing.assert_close(ours[0][i], theirs[i].detach(), rtol=1e-12, atol=1e-14)
    assert torch.equal(ours[0][2], start[0][2])


def test_freeze_set_lr_and_reset_run(gen):
    p = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    W = torch.randn(3, generator=gen, dtype=torch.float64)
    opt = Optimizer("momentum", [p], torch.tensor([0.1, 0.1], dtype=torch.float64), batched=True)
    opt.step([torch.stack([_grad(p[i], W) for i in range(2)])])
    frozen = p[1].clone()
    opt.freeze(1)
    opt.step([torch.stack([_grad(p[i], W) for i in range(2)])])
    assert torch.equal(p[1], frozen) and opt.lr[1] == 0
    opt.reset_run(1)
    assert torch.equal(opt.state[0][0][1], torch.zeros(3, dtype=torch.float64))
    assert not torch.equal(opt.state[0][0][0], torch.zeros(3, dtype=torch.float64))
    opt.set_lr(1, 0.2)
    before = p[1].clone()
    g = torch.stack([_grad(p[i], W) for i in range(2)])
    opt.step([g])  # fresh momentum buffer: a plain gradient step
    torch.testing.assert_close(p[1], before - 0.2 * g[1], rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_state_dict_roundtrip_continues_identically(name, gen):
    p0 = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    W = torch.randn(4, generator=gen, dtype=torch.float64)
    lr = torch.tensor([0.02, 0.04], dtype=torch.float64)

    def grads(p):
        return [torch.stack([_grad(p[i], W) for i in range(2)])]

    a = p0.clone()
    opt_a = Optimizer(name, [a], lr, batched=True)
    for _ in range(5):
        opt_a.step(grads(a))
    b = a.clone()
    opt_b = Optimizer(name, [b], lr, batched=True)
    opt_b.load_state_dict({k: v for k, v in opt_a.state_dict().items()})
    for _ in range(5):
        opt_a.step(grads(a))
        opt_b.step(grads(b))
    assert torch.equal(a, b)
