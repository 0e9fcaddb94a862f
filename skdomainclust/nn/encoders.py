"""Resolve an estimator's ``encoder`` parameter into a fresh torch module."""

import copy

import torch
from torch import nn

from .mlp import MLP

__all__ = ["build_encoder", "output_dim"]


def output_dim(module, input_shape):
    """Width of ``module``'s output for one sample of ``input_shape``, found by a dry run.

    Two samples are pushed (batch-norm refuses one in train mode) in eval mode and without
    gradients; the module's mode is restored afterwards.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            device = next((p.device for p in module.parameters()), torch.device("cpu"))
            out = module(torch.zeros((2, *input_shape), device=device))
    finally:
        module.train(was_training)
    if out.dim() != 2:
        raise ValueError(
            f"The encoder must return a (batch, features) tensor, got shape {tuple(out.shape)}."
        )
    return int(out.shape[1])


def build_encoder(encoder, input_shape, *, hidden_dims=(256,), dropout=0.0, batch_norm=True):
    """Return ``(module, out_features)`` for an estimator's ``encoder`` parameter.

    Parameters
    ----------
    encoder : None, nn.Module class or nn.Module instance
        None builds an :class:`~skdomainclust.nn.MLP` over flattened inputs with ``hidden_dims``.
        A class is called without arguments (bind arguments with ``functools.partial``). An
        instance is deep-copied, so fitting never changes the user's object and clones of the
        estimator stay independent.
    input_shape : tuple of int
        Shape of one sample, e.g. ``(n_features,)`` or ``(C, H, W)``.

    Returns
    -------
    module : nn.Module
    out_features : int
    """
    if encoder is None:
        in_features = 1
        for size in input_shape:
            in_features *= int(size)
        module = MLP(in_features, hidden_dims, batch_norm=batch_norm, dropout=dropout)
        return module, module.out_features
    if isinstance(encoder, nn.Module):
        module = copy.deepcopy(encoder)
    elif callable(encoder):
        module = encoder()
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"encoder() must return a torch.nn.Module, got {type(module).__name__}."
            )
    else:
        raise TypeError(
            f"encoder must be None, a torch.nn.Module or a class building one, got {encoder!r}."
        )
    return module, output_dim(module, input_shape)
