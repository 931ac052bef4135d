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
precision).  Then, for that image only, a shorter step is retried from the last
good point, a backtracking line search spread over the following evaluations, so
each step still costs exactly one forward/backward.  The retried fraction of the
step is the minimiser of the quadratic through the loss and slope at the good
point and the loss at the rejected one (Nocedal & Wright, eq. 3.57), kept within
[RETRY_MIN, RETRY_MAX].  Halving instead cost every style-transfer pair about 18 of
its 300 evaluations: the first quasi-Newton step, scaled by a curvature pair from
torch's tiny first step, overshoots by a factor near 2^18 (docs/performance.md,
"Steps per pair").

Two more differences from torch: a curvature pair is kept when s.y > 1e-8 |s| |y|
(torch: s.y > 1e-10, which depends on the scale of the loss), and a rejected pair
(rare) still takes a history slot, stored as zeros so that it has no effect.  That keeps
all images' ring buffers aligned, so the whole batch shares one set of tensor operations
with no per-image Python loop and no host-device synchronisation.

The direction -H g is that of the two-loop recursion, computed in the compact form
of Byrd, Nocedal & Schnabel (1994): with S, Y the m stored pairs (oldest first),
R the upper triangle of S^T Y, D its diagonal and gamma the initial scaling,

    H g = gamma g + S p - gamma Y u,  u = R^-1 S^T g,  p = R^-T (D u + gamma Y^T (Y u - g)).

The two-loop takes 2m dot products and 2m vector updates, each a small kernel
(hundreds per step, which leave a GPU idle waiting for the host); this takes two
passes of matrix products over the history, the m x m inner products S^T Y and
Y^T Y being updated one row and column per new pair, and two m x m triangular solves.
Empty and rejected slots are zero rows of S and Y; a unit diagonal in R for them
keeps R invertible and gives them u = p = 0, exactly the no-effect of the two-loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# The fraction of a rejected step to retry: at most a half (a mild overshoot, as
# halving did), at least a hundredth (the quadratic model of a quartic loss's huge
# overshoot undershoots; a NaN loss retries this too).
RETRY_MIN, RETRY_MAX = 0.01, 0.5


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
        self.history_size = history_size
        batch, dims = x.shape[0], x[0].numel()
        # Curvature pairs, a ring buffer shared by position across the batch: per image,
        # rows [0, m) hold s, rows [m, 2m) y, so that one matrix product covers both.
        self.pairs = x.new_zeros(batch, 2 * history_size, dims, dtype=torch.float32)
        # Their inner products by slot: [:, 0] s_i.y_j (S^T Y), [:, 1] y_i.y_j (Y^T Y).
        self.products = x.new_zeros(batch, 2, history_size, history_size, dtype=torch.float32)
        self.pushed = 0
        self.h_diag = x.new_ones(batch, dtype=torch.float32)
        # State at each image's last accepted point; None before the first step.
        self.loss: Tensor | None = None
        self.grad: Tensor | None = None
        self.last_step: Tensor | None = None  # the update that led from it to x
        # False once an image's direction is no longer a descent direction (converged).
        self.active = torch.ones(batch, dtype=torch.bool, device=x.device)
        # Whether the last evaluation was accepted (its point is now the last good one).
        self.good = torch.ones(batch, dtype=torch.bool, device=x.device)

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
            direction = self._update(grad, good)
            step_size = self.lr
        descent = torch.linalg.vecdot(grad, direction) <= -self.tolerance_change
        self.active &= descent | ~good
        back, retried = self._retry(loss)
        new_step = torch.where(good[:, None], (self.active * step_size)[:, None] * direction, back)
        self.loss = loss if self.loss is None else torch.where(good, loss, self.loss)
        self.grad = grad if self.grad is None else torch.where(good[:, None], grad, self.grad)
        self.x.add_(new_step.view_as(self.x).to(self.x.dtype))
        self.last_step = torch.where(good[:, None], new_step, retried)
        self.good = good
        return loss

    def accepted_point(self) -> Tensor:
        """Each image's last accepted point (whose loss is `self.loss`), shaped like x."""
        return self.x.detach() - self.last_step.view_as(self.x).to(self.x.dtype)

    def keep(self, index: Tensor) -> None:
        """Go on with the images at `index` (1-D positions) only, e.g. when the others
        have stopped.  Every piece of state is per image, so the images kept follow the
        same iterates as before; `x` becomes a new leaf tensor, read it from here."""
        self.x = self.x.detach()[index].requires_grad_(True)
        self.pairs, self.products = self.pairs[index], self.products[index]
        self.h_diag, self.active = self.h_diag[index], self.active[index]
        self.good = self.good[index]
        if self.loss is not None:
            self.loss, self.grad = self.loss[index], self.grad[index]
            self.last_step = self.last_step[index]

    def _retry(self, loss: Tensor) -> tuple[Tensor, Tensor]:
        """For an image whose evaluation (`loss`) is rejected: the move back from it and
        the shorter step from the last good point that replaces the last step."""
        if self.last_step is None:
            zero = torch.zeros_like(
                self.x.detach().reshape(self.x.shape[0], -1), dtype=torch.float32
            )
            return zero, zero
        # Along the step: f(0) = self.loss, f'(0) = slope < 0, f(1) = loss.
        # A matrix product like the history's, not vecdot: with vecdot, a pair's retries
        # and so its stop moved with the rest of its batch (tests/test_stopping.py).
        slope = (self.grad[:, None] @ self.last_step[:, :, None])[:, 0, 0]
        fraction = -slope / (2 * (loss - self.loss - slope))
        fraction = torch.where(torch.isfinite(fraction), fraction, RETRY_MIN)
        retried = fraction.clamp(RETRY_MIN, RETRY_MAX)[:, None] * self.last_step
        return retried - self.last_step, retried

    def _update(self, grad: Tensor, good: Tensor) -> Tensor:
        """Store the newest curvature pair; return the direction -H g from each image's
        last accepted point (`grad` where this evaluation is good)."""
        m = self.history_size
        pair = torch.stack([self.last_step, grad - self.grad], 1)  # (B, 2, d): s, y
        gram = pair @ pair.mT
        ss, sy, yy = gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]
        # Keep pairs with clearly positive curvature.  Relative to |s||y|, not torch's
        # absolute 1e-10, which rejects every pair when the loss is small in absolute
        # terms (tiny gradients), leaving plain gradient descent.
        accept = good & (sy > 1e-8 * torch.sqrt(ss * yy))
        slot = self.pushed % m
        self.pushed += 1
        newest = self.pairs[:, slot::m]  # rows slot (s) and m + slot (y), a view
        newest.copy_(torch.where(accept[:, None, None], pair, 0.0))
        self.h_diag = torch.where(accept, sy / torch.where(accept, yy, 1.0), self.h_diag)
        gamma = self.h_diag[:, None, None]

        # One pass over the history: [S^T; Y^T] times g, s and y.
        g = torch.where(good[:, None], grad, self.grad)
        prods = self.pairs @ torch.cat([g[:, None], newest], 1).mT  # (B, 2m, 3)
        # The new slot's row (y_j.s) and column (s_i.y, y_i.y) of both products.
        self.products[:, :, slot] = prods[:, m:, 1:].mT
        self.products[:, :, :, slot] = prods[:, :, 2].unflatten(1, (2, m))
        # s.y as accept saw it, so that a kept pair never has a zero (unit) diagonal.
        self.products[:, 0, slot, slot] = torch.where(accept, sy, 0.0)

        # Oldest first (slot `pushed % m`), as the triangle of R needs.
        oldest = self.pushed % m
        sy_matrix, yy_matrix = torch.roll(self.products, (-oldest, -oldest), dims=(2, 3)).unbind(1)
        sg, yg = torch.roll(prods[:, :, :1].unflatten(1, (2, m)), -oldest, dims=2).unbind(1)
        d = sy_matrix.diagonal(dim1=1, dim2=2)[..., None]  # zero for empty and rejected slots
        r = sy_matrix.triu()
        r.diagonal(dim1=1, dim2=2).masked_fill_(d[..., 0] == 0, 1.0)
        u = torch.linalg.solve_triangular(r, sg, upper=True)
        w = torch.addcmul(gamma * (yy_matrix @ u - yg), d, u)
        p = torch.linalg.solve_triangular(r.mT, w, upper=False)
        # -H g = -gamma g - S p + gamma Y u, with the coefficients back in slot order.
        coefficients = torch.roll(torch.stack([-p, gamma * u], 1), oldest, dims=2)
        direction = torch.baddbmm(-gamma * g[..., None], self.pairs.mT, coefficients.flatten(1, 2))
        return direction[..., 0]
