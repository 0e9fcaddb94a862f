"""Torch building blocks shared by the methods."""

from .dsbn import DomainSpecificBatchNorm, convert_to_dsbn
from .encoders import build_encoder, output_dim
from .grl import GradientReversal, dann_lambda, dann_lr_factor, grad_reverse
from .mlp import MLP
from .pca import PCAResidual, pca_linear
from .sobel import SobelFilter
from .views import FeatureView, ImageView

__all__ = [
    "MLP",
    "PCAResidual",
    "SobelFilter",
    "DomainSpecificBatchNorm",
    "FeatureView",
    "ImageView",
    "convert_to_dsbn",
    "GradientReversal",
    "build_encoder",
    "dann_lambda",
    "dann_lr_factor",
    "grad_reverse",
    "output_dim",
    "pca_linear",
]
