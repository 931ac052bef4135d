"""L-BFGS for a batch of independent problems.

torch.optim.LBFGS treats all parameters as one vector, so optimising several
images with it couples them: one curvature history and one step size for the
whole batch.  Here every image (the leading dimension of `x`) has its own
history, step size and convergence flag, so a batch of B images follows the same
iterates as B separate runs, while sharing each forward/backward pass.

With one image the iterates are those of torch.optim.LBFGS(max_iter=1, no line
search) called once per step; one difference: a rejected curvature pair
(s.y <= 1e-10, rare) still takes a history slot, stored as zeros so that it has
no effect on the direction.  That keeps all images' ring buffers aligned, which
turns the two-loop recursion into a handful of batched tensor operations with no
per-image Python loop and no host-device synchronisation.
"""

from __future__ import annotations

from typing import Callable

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
        self.direction: Tensor | None = None
        self.step_size: Tensor | None = None
        self.prev_grad: Tensor | None = None
        # False once an image's direction is no longer a descent direction (converged).
        self.active = torch.ones(batch, dtype=torch.bool, device=x.device)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        """Evaluate the closure (which must call backward) once and move every image."""
        with torch.enable_grad():
            loss = closure()
        grad = self.x.grad.detach().reshape(self.x.shape[0], -1).float()
        if self.direction is None:
            self.direction = -grad
            self.step_size = (1.0 / grad.abs().sum(1)).clamp(max=1.0) * self.lr
        else:
            self._remember(grad)
            self.direction = self._two_loop(grad)
            self.step_size = torch.full_like(self.step_size, self.lr)
        descent = (grad * self.direction).sum(1) <= -self.tolerance_change
        self.active &= descent
        update = (self.step_size * self.active)[:, None] * self.direction
        self.x.add_(update.view_as(self.x).to(self.x.dtype))
        self.prev_grad = grad
        return loss

    def _remember(self, grad: Tensor) -> None:
        s = self.direction * self.step_size[:, None]
        y = grad - self.prev_grad
        ys = (y * s).sum(1)
        accept = ys > 1e-10
        slot = self.pushed % self.s.shape[0]
        self.s[slot] = s * accept[:, None]
        self.y[slot] = y * accept[:, None]
        self.rho[slot] = torch.where(accept, 1.0 / ys, torch.zeros_like(ys))
        self.pushed += 1
        yy = (y * y).sum(1)
        self.h_diag = torch.where(accept, ys / yy, self.h_diag)

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
