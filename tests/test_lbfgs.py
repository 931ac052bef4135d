"""Batched L-BFGS: the iterates of torch.optim.LBFGS, one independent history per image."""

import torch

from nst.lbfgs import BatchedLBFGS

torch.manual_seed(0)
DIM = 6
MATRICES = [(lambda a: a @ a.T + 0.5 * torch.eye(DIM))(torch.randn(DIM, DIM)) for _ in range(3)]
OFFSETS = [torch.randn(DIM) for _ in range(3)]


def objective(x: torch.Tensor, i: int) -> torch.Tensor:
    """A convex but non-quadratic problem per image (so curvature pairs matter)."""
    return 0.5 * x @ MATRICES[i] @ x - OFFSETS[i] @ x + 0.1 * (x**4).sum()


def run_torch(x0: torch.Tensor, i: int, steps: int, history: int):
    """torch.optim.LBFGS one iteration per step: the iterates and the losses at them."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x], lr=1, max_iter=1, history_size=history, tolerance_grad=0, tolerance_change=0
    )
    iterates, losses = [], []

    def closure():
        opt.zero_grad()
        loss = objective(x, i)
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(opt.step(closure).item())
        iterates.append(x.detach().clone())
    return iterates, losses


def run_batched(x0: torch.Tensor, problems: list[int], steps: int, history: int) -> torch.Tensor:
    x = x0.clone().requires_grad_(True)
    opt = BatchedLBFGS(x, lr=1, history_size=history, tolerance_change=0)

    def closure():
        x.grad = None
        losses = torch.stack([objective(x[b], i) for b, i in enumerate(problems)])
        losses.sum().backward()
        return losses.detach()

    for _ in range(steps):
        opt.step(closure)
    return x.detach()


def test_single_image_follows_torch_lbfgs_while_the_loss_falls():
    torch.manual_seed(2)
    x0 = torch.randn(1, DIM)
    iterates, losses = run_torch(x0[0], 0, steps=25, history=5)
    # Torch's plain L-BFGS may overshoot (the loss rises); from there ours backtracks.
    falling = next((k for k in range(1, 25) if losses[k] > losses[k - 1]), 25)
    assert falling >= 8
    ours = run_batched(x0, [0], steps=falling, history=5)
    torch.testing.assert_close(ours[0], iterates[falling - 1], atol=1e-5, rtol=1e-5)


def test_batch_members_are_independent():
    # Before convergence: at the minimum, accept/reject decisions compare losses
    # that differ in the last bit, and batched reductions round differently.
    torch.manual_seed(3)
    x0 = torch.randn(3, DIM)
    together = run_batched(x0, [0, 1, 2], steps=10, history=4)
    for b in range(3):
        alone = run_batched(x0[b : b + 1], [b], steps=10, history=4)
        torch.testing.assert_close(together[b], alone[0], atol=1e-5, rtol=1e-5)


def test_converges_to_float32_precision():
    torch.manual_seed(1)
    x0 = torch.randn(2, DIM)
    x = run_batched(x0, [0, 1], steps=200, history=10)
    for b in range(2):
        xb = x[b].clone().requires_grad_(True)
        objective(xb, b).backward()
        # At the minimum, loss changes fall below float32 resolution (gradients ~1e-4).
        assert xb.grad.abs().max() < 2e-3
    assert torch.isfinite(x).all()


def test_an_overshooting_step_is_shortened_and_nan_is_survived():
    # f(x) = |x|^2 / 2 with a learning rate of 3: every full step overshoots to the
    # other side of the minimum.  Plain L-BFGS would oscillate; here each overshoot
    # is undone and a shorter step retried, so the accepted losses only go down.
    x = torch.tensor([[0.01, 0.0], [1.0, 1.0]], requires_grad=True)
    opt = BatchedLBFGS(x, lr=3.0, history_size=3)
    evaluated, accepted = [], []

    def closure():
        x.grad = None
        loss = 0.5 * (x**2).sum(1)
        loss.sum().backward()
        return loss.detach()

    for _ in range(12):
        evaluated.append(opt.step(closure)[1].item())
        accepted.append(opt.loss[1].item())
    assert any(later > earlier for earlier, later in zip(evaluated, evaluated[1:]))
    assert all(later <= earlier for earlier, later in zip(accepted, accepted[1:]))
    assert accepted[-1] < 1e-3 and torch.isfinite(x).all()

    y = torch.tensor([[1.0], [1.0]], requires_grad=True)
    opt = BatchedLBFGS(y, lr=1.0)
    calls = []

    def nan_once():
        y.grad = None
        loss = (y - 0.5).pow(2).sum(1)
        if len(calls) == 1:  # the second evaluation of image 0 returns NaN
            loss = loss * torch.tensor([float("nan"), 1.0])
        calls.append(1)
        loss.sum().backward()
        return loss.detach()

    for _ in range(10):
        opt.step(nan_once)
    torch.testing.assert_close(y.detach(), torch.tensor([[0.5], [0.5]]), atol=1e-4, rtol=0)


def test_a_huge_overshoot_costs_a_few_evaluations_not_one_per_halving():
    # A quartic with a learning rate of 1e6: the first quasi-Newton step overshoots
    # by about 2^20, as the first step of a style transfer does.  Halving took 16
    # evaluations to get back under the start's loss; the quadratic retry takes 4.
    x = torch.ones(2, 8, requires_grad=True)
    opt = BatchedLBFGS(x, lr=1e6, history_size=5)

    def closure():
        x.grad = None
        loss = (x**4).sum(1) + (x**2).sum(1)
        loss.sum().backward()
        return loss.detach()

    start = opt.step(closure)
    evaluations = 1
    while not (opt.step(closure) < start).all():
        evaluations += 1
    assert evaluations <= 5
    assert (opt.loss < start).all()  # the accepted loss, where the next step starts


def two_loop(slots: list, history: int, g: torch.Tensor) -> torch.Tensor:
    """-H g by the classic recursion (Nocedal & Wright, algorithm 7.4) over the last
    `history` slots, each a pair (s, y) or None (rejected), oldest first."""
    kept = [pair for pair in slots if pair is not None]
    # The initial scaling comes from the newest kept pair, even one out of the window.
    gamma = float(kept[-1][0] @ kept[-1][1] / (kept[-1][1] @ kept[-1][1])) if kept else 1.0
    pairs = [pair for pair in slots[-history:] if pair is not None]
    q, alphas = g.clone(), []
    for s, y in reversed(pairs):
        alphas.append((s @ q) / (y @ s))
        q -= alphas[-1] * y
    r = gamma * q
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        r += s * (alpha - (y @ r) / (y @ s))
    return -r


def test_direction_is_the_two_loop_recursion():
    # Random histories, longer than the ring buffer, with rejected pairs (negative
    # curvature or a failed evaluation) that take a slot but must have no effect.
    torch.manual_seed(4)
    batch, dims, history = 3, 8, 5
    matrix = (lambda a: a @ a.T + torch.eye(dims))(torch.randn(dims, dims))
    opt = BatchedLBFGS(torch.zeros(batch, dims, requires_grad=True), history_size=history)
    opt.grad = torch.randn(batch, dims)
    slots = [[] for _ in range(batch)]  # per image, oldest first
    for push in range(13):
        s = torch.randn(batch, dims)
        y = s @ matrix + 0.1 * torch.randn(batch, dims)
        if push % 4 == 1:
            y[push % 3] *= -1  # negative curvature
        good = torch.tensor([push % 5 != 3, True, push != 7])
        opt.last_step, grad = s, opt.grad + y
        direction = opt._update(grad, good)
        y = grad - opt.grad  # as the optimiser sees it
        for b in range(batch):
            kept = bool(good[b]) and float(s[b] @ y[b]) > 0
            slots[b].append((s[b].double(), y[b].double()) if kept else None)
            g = (grad if good[b] else opt.grad)[b].double()
            expected = two_loop(slots[b], history, g)
            torch.testing.assert_close(direction[b].double(), expected, rtol=1e-4, atol=1e-5)
        opt.grad = torch.where(good[:, None], grad, opt.grad)
    # Every image had pairs of both kinds, and the buffer wrapped around.
    assert all(None in image and len(image) > history for image in slots)
