"""The stitch: a small affine map from a sender's cut to a receiver's cut.

Shapes decide the form (Bansal et al. 2021; Csiszarik et al. 2021):

- flat -> flat: a linear layer;
- tokens -> tokens, ``(T, D)`` per sample with equal ``T`` (a transformer's or sequence model's
  batch-first ``(N, T, D)``): one linear map over features applied to every token;
- same spatial size: a 1x1 convolution (one affine map applied at every position);
- sender larger by a factor k: a k x k convolution with stride k (each receiver position sees
  the k x k sender patch it covers);
- sender smaller by a factor k: nearest upsampling by k, then a 1x1 convolution.

Each form is an affine map applied to one *design vector* per receiver position, so one
least-squares solve (:meth:`Stitch.fit_least_squares`, the pseudo-inverse solution of Csiszarik
et al.) initialises every form, and is the whole of closed-form direct matching.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..models.training import calibrate_batchnorm


class IncompatibleCuts(ValueError):
    """Two cuts that no stitch of this module can connect."""


def _ratio(sender: int, receiver: int) -> Tuple[str, int]:
    if sender == receiver:
        return "same", 1
    big, small = max(sender, receiver), min(sender, receiver)
    k = big // small
    if big % small or k & (k - 1):
        raise ValueError(f"spatial sizes {sender} and {receiver} are not a power-of-two ratio apart")
    return ("down" if sender > receiver else "up"), k


def form(sender_shape: Sequence[int], receiver_shape: Sequence[int], *, bn: bool = False,
         names: Tuple[str, str] = ("sender", "receiver")) -> Tuple[str, int]:
    """The stitch's form (``flat``, ``tokens``, ``same``, ``down`` or ``up``) and scale factor for two
    per-sample shapes, or :class:`IncompatibleCuts` saying why no stitch connects them. Pure (no
    parameters drawn), so a cell's shapes are checked before any stitch is built."""
    s, r = tuple(sender_shape), tuple(receiver_shape)
    if len(s) != len(r) or len(s) not in (1, 2, 3):
        raise IncompatibleCuts(f"cannot stitch {names[0]} {s} into {names[1]} {r}: "
                               "both cuts must be flat (D,), both tokens (T, D), or both spatial (C, H, W)")
    if len(s) == 1:
        return "flat", 1
    if len(s) == 2:
        if s[0] != r[0]:
            raise IncompatibleCuts(f"cannot stitch {names[0]} {s} into {names[1]} {r}: "
                                   "token cuts need the same number of tokens")
        if bn:
            raise IncompatibleCuts(f"cannot stitch {names[0]} {s} into {names[1]} {r}: "
                                   "no BatchNorm stitch for token cuts (features are the last axis)")
        return "tokens", 1
    if s[1] * r[2] != s[2] * r[1]:
        raise IncompatibleCuts(f"cannot stitch {names[0]} {s} into {names[1]} {r}: aspect ratios differ")
    try:
        return _ratio(s[1], r[1])
    except ValueError as err:
        raise IncompatibleCuts(f"cannot stitch {names[0]} {s} into {names[1]} {r}: {err}") from None


class Stitch(nn.Module):
    """Affine map from activations of shape ``sender_shape`` to ``receiver_shape`` (per sample)."""

    def __init__(self, sender_shape: Sequence[int], receiver_shape: Sequence[int], *,
                 bn_before: bool = False, bn_after: bool = False, names: Tuple[str, str] = ("sender", "receiver")):
        super().__init__()
        self.sender_shape, self.receiver_shape = tuple(sender_shape), tuple(receiver_shape)
        s, r = self.sender_shape, self.receiver_shape
        self.mode, self.k = form(s, r, bn=bn_before or bn_after, names=names)
        if self.mode in ("flat", "tokens"):
            self.map: nn.Module = nn.Linear(s[-1], r[-1])  # tokens: applies over the last axis, token by token
        else:
            kernel = self.k if self.mode == "down" else 1
            self.map = nn.Conv2d(s[0], r[0], kernel_size=kernel, stride=kernel)
        norm = nn.BatchNorm1d if len(s) == 1 else nn.BatchNorm2d
        self.bn_before = norm(s[0]) if bn_before else nn.Identity()
        self.bn_after = norm(r[0]) if bn_after else nn.Identity()

    def _pre(self, a: torch.Tensor) -> torch.Tensor:
        a = self.bn_before(a)
        return F.interpolate(a, scale_factor=self.k, mode="nearest") if self.mode == "up" else a

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.mode != "up":
            return self.bn_after(self.map(self._pre(a)))
        # A 1x1 map commutes with nearest upsampling, so map first, at the sender's resolution:
        # k*k fewer positions, and the receiver's (fewer) channels are what gets upsampled.
        h = self.map(self.bn_before(a))
        return self.bn_after(F.interpolate(h, scale_factor=self.k, mode="nearest"))

    def design(self, a: torch.Tensor) -> torch.Tensor:
        """One row per receiver position: the inputs the affine map sees there, ``(rows, D)``."""
        a = self._pre(a)
        if self.mode == "flat":
            return a
        if self.mode == "tokens":
            return a.reshape(-1, a.shape[-1])
        if self.mode == "down":
            cols = F.unfold(a, kernel_size=self.k, stride=self.k)  # (N, C*k*k, L), weight order
            return cols.transpose(1, 2).reshape(-1, cols.shape[1])
        return a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])

    @staticmethod
    def rows(b: torch.Tensor) -> torch.Tensor:
        """Receiver activations as one row per position, ``(rows, C)``, aligned with :meth:`design`."""
        if b.dim() == 3:  # tokens (N, T, D)
            return b.reshape(-1, b.shape[-1])
        return b if b.dim() == 2 else b.permute(0, 2, 3, 1).reshape(-1, b.shape[1])

    def _normal_rows(self, a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """Design rows, target rows and how often each design row repeats, for the normal equations.

        Nearest upsampling repeats each sender position k*k times, so instead of k*k identical
        design rows per sender position the sums can be formed at the sender's resolution: the
        Gram matrix is k*k times the low-resolution one, and each row's target is the sum of the
        receiver's k x k block. Same solution, k*k fewer rows (64x for a deep sender into the stem).
        """
        if self.mode != "up":
            return self.design(a), self.rows(b), 1
        x = self.bn_before(a).permute(0, 2, 3, 1).reshape(-1, a.shape[1])
        y = F.avg_pool2d(b, self.k) * (self.k * self.k)
        return x, self.rows(y), self.k * self.k

    @torch.no_grad()
    def fit_least_squares(self, a: torch.Tensor, b: torch.Tensor, batch_size: int = 256) -> "Stitch":
        """Set the affine map to argmin ||map(a) - b||^2 (pseudo-inverse solution), in float64.

        Streams over batches of samples accumulating the normal equations, so memory stays at
        D x D however many positions there are; ``pinv`` of the Gram matrix gives the minimum-norm
        solution, which equals ``pinv(A) @ B`` also when A is rank deficient.
        """
        if isinstance(self.bn_before, nn.modules.batchnorm._BatchNorm):
            calibrate_batchnorm(self.bn_before, a.float(), batch_size)
        dev = a.device
        gram = xty = None
        for i in range(0, len(a), batch_size):
            x, y, repeats = self._normal_rows(a[i:i + batch_size].float(), b[i:i + batch_size].float())
            x = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64, device=dev)], 1)
            y = y.double()
            gram = repeats * x.T @ x if gram is None else gram + repeats * x.T @ x
            xty = x.T @ y if xty is None else xty + x.T @ y
        solution = torch.linalg.pinv(gram, hermitian=True) @ xty  # (D + 1, C)
        weight, bias = solution[:-1].T, solution[-1]
        self.map.weight.copy_(weight.reshape(self.map.weight.shape).to(self.map.weight.dtype))
        self.map.bias.copy_(bias.to(self.map.bias.dtype))
        if isinstance(self.bn_after, nn.modules.batchnorm._BatchNorm):
            # make bn_after the identity on this data: normalise, then scale back
            out = torch.cat([self.map(self._pre(a[i:i + batch_size].float())) for i in range(0, len(a), batch_size)])
            calibrate_batchnorm(self.bn_after, out, batch_size)
            self.bn_after.weight.copy_((self.bn_after.running_var + self.bn_after.eps).sqrt())
            self.bn_after.bias.copy_(self.bn_after.running_mean)
        return self


class StitchedNetwork(nn.Module):
    """Sender prefix -> stitch -> receiver suffix, as one network (to attack it end to end)."""

    def __init__(self, sender: nn.Module, sender_cut: str, stitch: Stitch, receiver: nn.Module, receiver_cut: str):
        super().__init__()
        self.sender, self.stitch, self.receiver = sender, stitch, receiver
        self.sender_cut, self.receiver_cut = sender_cut, receiver_cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.receiver.suffix(self.stitch(self.sender.prefix(x, self.sender_cut)), self.receiver_cut)
