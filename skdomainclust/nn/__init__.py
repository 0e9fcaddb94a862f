"""Torch building blocks shared by the methods."""

from .encoders import build_encoder, output_dim
from .grl import GradientReversal, dann_lambda, dann_lr_factor, grad_reverse
from .mlp import MLP

__all__ = [
    "MLP",
    "GradientReversal",
    "build_encoder",
    "dann_lambda",
    "dann_lr_factor",
    "grad_reverse",
    "output_dim",
]
