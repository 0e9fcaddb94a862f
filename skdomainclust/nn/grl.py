"""Gradient reversal (Ganin & Lempitsky, 2015) and the DANN schedules."""

import math

import torch
from torch import nn

__all__ = ["GradientReversal", "grad_reverse", "dann_lambda", "dann_lr_factor"]


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.coeff * grad_output, None


def grad_reverse(x, coeff=1.0):
    """Identity in the forward pass; multiplies the gradient by ``-coeff`` in the backward pass."""
    return _ReverseGrad.apply(x, float(coeff))


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; ``coeff`` can be changed during training.

    Examples
    --------
    >>> import torch
    >>> grl = GradientReversal(coeff=0.5)
    >>> x = torch.ones(3, requires_grad=True)
    >>> grl(x).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000, -0.5000])
    """

    def __init__(self, coeff=1.0):
        super().__init__()
        self.coeff = float(coeff)

    def forward(self, x):
        return grad_reverse(x, self.coeff)

    def extra_repr(self):
        return f"coeff={self.coeff}"


def dann_lambda(progress, gamma=10.0):
    """DANN's adversarial weight ``2 / (1 + exp(-gamma p)) - 1`` for training progress ``p``."""
    return 2.0 / (1.0 + math.exp(-gamma * float(progress))) - 1.0


def dann_lr_factor(progress, alpha=10.0, beta=0.75):
    """DANN's learning-rate annealing factor ``1 / (1 + alpha p) ** beta``."""
    return 1.0 / (1.0 + alpha * float(progress)) ** beta
