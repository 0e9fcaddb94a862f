"""Batch-norm helpers: batch statistics without training, and re-estimated running statistics.

A network trained on one domain and applied to another can keep its weights and still adapt
its batch-norm statistics to the new rows (CCN's similarity network, Hsu et al. ICLR 2018, is
left in training mode on the target for that reason). :func:`batchnorm_train_mode` does that
per batch; :func:`reestimate_batchnorm` does it once, deterministically, over all the rows.
"""

import torch
from torch import nn

__all__ = ["batchnorm_layers", "batchnorm_train_mode", "reestimate_batchnorm", "row_chunks"]


def batchnorm_layers(module):
    """Every batch-norm layer (1d, 2d, 3d) of ``module``."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def batchnorm_train_mode(module):
    """Eval mode everywhere (no dropout) except batch-norm, which uses batch statistics.

    Returns ``module``.
    """
    module.eval()
    for bn in batchnorm_layers(module):
        bn.train()
    return module


def reestimate_batchnorm(module, run, chunks):
    """Replace the running statistics of ``module``'s batch-norms by those of ``chunks``.

    ``run(chunk)`` pushes one chunk through the part of the network to re-estimate (batch-norm
    in training mode, no gradient); the new statistics are the cumulative averages over the
    chunks. The layers' momentum is restored and ``module`` is left in eval mode.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> X = torch.randn(50, 3) + 5
    >>> reestimate_batchnorm(net, lambda s: net(X[s]), row_chunks(len(X), 10))
    >>> # Equal chunks: the running mean is the mean of the layer's input over all of X.
    >>> bool(torch.allclose(net[1].running_mean, net[0](X).mean(0).detach(), atol=1e-5))
    True
    >>> net.training
    False
    """
    norms = batchnorm_layers(module)
    saved = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the chunks
    batchnorm_train_mode(module)
    with torch.no_grad():
        for chunk in chunks:
            run(chunk)
    for bn, momentum in zip(norms, saved):
        bn.momentum = momentum
    module.eval()


def row_chunks(n, size):
    """Slices of ``range(n)`` of ``size`` rows; a last chunk of one row joins the previous one.

    (Batch-norm in training mode cannot normalise a single row.)

    Examples
    --------
    >>> row_chunks(7, 3)
    [slice(0, 3, None), slice(3, 7, None)]
    """
    bounds = list(range(0, n, size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
