"""L-BFGS for a batch of independent problems, with a safeguard against bad steps.

torch.optim.LBFGS treats all parameters as one vector, so optimising several
images with it couples them: one curvature history and one step size for the
whole batch.  Here every image (the leading dimension of `x`) has its own
history, step size and convergence flag, so a batch of B images follows the same
iterates as B separate runs, while sharing each forward/backward pass.

While the loss goes down the iterates are those of torch.optim.LBFGS(max_iter=1,
no line search) called once per step (the method of Gatys et al. and of the
PyTorch tutorial).  Without a line search, a step can overshoot: the loss rises
or becomes NaN/Inf (seen with unusual loss scales, random weights and low
precision).  Then, for that image only, the step is halved and retried from the
last good point, a backtracking line search spread over the following
evaluations, so each step still costs exactly one forward/backward.

Two more differences from torch: a curvature pair is kept when s.y > 1e-8 |s| |y|
(torch: s.y > 1e-10, which depends on the scale of the loss), and a rejected pair
(rare) still takes a history slot, stored as zeros so that it has no effect.  That keeps
all images' ring buffers aligned, which turns the two-loop recursion into a few
batched tensor operations with no per-image Python loop and no host-device
synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class BatchedLBFGS:
    def __init__(
        self,
        x: Tensor,
        lr: float = 1.0,
        history_size: int = 100,
        tolerance_change: float = 1e-9,
    ):
        if not x.requires_grad:
            raise ValueError("x must require grad")
        self.x = x
        self.lr = lr
        self.tolerance_change = tolerance_change
        batch, dims = x.shape[0], x[0].numel()
        # Curvature pairs, a ring buffer shared by position across the batch.
        self.s = x.new_zeros(history_size, batch, dims, dtype=torch.float32)
        self.y = torch.zeros_like(self.s)
        self.rho = x.new_zeros(history_size, batch, dtype=torch.float32)
        self.pushed = 0
        self.h_diag = x.new_ones(batch, dtype=torch.float32)
        # State at each image's last accepted point; None before the first step.
        self.loss: Tensor | None = None
        self.grad: Tensor | None = None
        self.last_step: Tensor | None = None  # the update that led from it to x
        # False once an image's direction is no longer a descent direction (converged).
        self.active = torch.ones(batch, dtype=torch.bool, device=x.device)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        """Evaluate the closure (which must call backward and return per-image losses)
        once, and move every image."""
        with torch.enable_grad():
            loss = closure().detach().float()
        grad = self.x.grad.detach().reshape(self.x.shape[0], -1).float()
        if self.loss is None:
            direction = -grad
            step_size = (1.0 / grad.abs().sum(1)).clamp(max=1.0) * self.lr
            good = torch.isfinite(loss)
        else:
            # `not <=` is also true for NaN: a NaN loss counts as a failed step.
            good = loss <= self.loss
            self._remember(grad, good)
            direction = self._two_loop(torch.where(good[:, None], grad, self.grad))
            step_size = torch.full_like(loss, self.lr)
        descent = (grad * direction).sum(1) <= -self.tolerance_change
        self.active &= descent | ~good
        new_step = torch.where(
            good[:, None], (step_size * self.active)[:, None] * direction, self._backtrack()
        )
        self.loss = loss if self.loss is None else torch.where(good, loss, self.loss)
        self.grad = grad if self.grad is None else torch.where(good[:, None], grad, self.grad)
        self.x.add_(new_step.view_as(self.x).to(self.x.dtype))
        self.last_step = torch.where(good[:, None], new_step, -new_step)
        return loss

    def _backtrack(self) -> Tensor:
        """The move from a rejected point back to half the last step from the good one."""
        if self.last_step is None:
            return torch.zeros_like(
                self.x.detach().reshape(self.x.shape[0], -1), dtype=torch.float32
            )
        return -0.5 * self.last_step

    def _remember(self, grad: Tensor, good: Tensor) -> None:
        s = self.last_step
        y = grad - self.grad
        ys = (y * s).sum(1)
        yy = (y * y).sum(1)
        # Keep pairs with clearly positive curvature.  Relative to |s||y|, not torch's
        # absolute 1e-10, which rejects every pair when the loss is small in absolute
        # terms (tiny gradients), leaving plain gradient descent.
        accept = good & (ys > 1e-8 * torch.sqrt((s * s).sum(1) * yy))
        slot = self.pushed % self.s.shape[0]
        zero = torch.zeros((), device=grad.device)
        self.s[slot] = torch.where(accept[:, None], s, zero)
        self.y[slot] = torch.where(accept[:, None], y, zero)
        self.rho[slot] = torch.where(accept, 1.0 / torch.where(accept, ys, 1.0), zero)
        self.pushed += 1
        self.h_diag = torch.where(accept, ys / torch.where(accept, yy, 1.0), self.h_diag)

    def _two_loop(self, grad: Tensor) -> Tensor:
        size = self.s.shape[0]
        newest_first = [(self.pushed - 1 - k) % size for k in range(min(self.pushed, size))]
        q = -grad
        alphas = {}
        for i in newest_first:
            alphas[i] = (self.s[i] * q).sum(1) * self.rho[i]
            q = q - alphas[i][:, None] * self.y[i]
        r = q * self.h_diag[:, None]
        for i in reversed(newest_first):
            beta = (self.y[i] * r).sum(1) * self.rho[i]
            r = r + self.s[i] * (alphas[i] - beta)[:, None]
        return r
