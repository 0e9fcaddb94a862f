"""Multi-layer perceptrons: the default encoder over precomputed feature vectors."""

from torch import nn

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """Stack of ``Linear -> BatchNorm1d -> ReLU (-> Dropout)`` blocks, optionally a last Linear.

    Parameters
    ----------
    in_features : int
        Input dimension.
    hidden_dims : sequence of int
        Width of each hidden block; empty means the identity (or a single Linear).
    out_features : int or None
        Size of a final ``Linear`` layer without normalisation or activation; None leaves the
        last hidden block as the output.
    batch_norm : bool
        Put a ``BatchNorm1d`` after each hidden ``Linear``. Several methods rely on it (the
        learnable clustering objective does not converge without it, per Hsu et al.).
    dropout : float
        Dropout probability after each hidden block.

    Attributes
    ----------
    out_features : int
        Width of the output.

    Examples
    --------
    >>> import torch
    >>> from skdomainclust.nn import MLP
    >>> net = MLP(10, (32, 16), out_features=3)
    >>> net(torch.randn(5, 10)).shape
    torch.Size([5, 3])
    """

    def __init__(self, in_features, hidden_dims=(256,), out_features=None, *, batch_norm=True,
                 dropout=0.0):
        layers = []
        width = int(in_features)
        for hidden in hidden_dims:
            layers.append(nn.Linear(width, int(hidden), bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(hidden)))
            layers.append(nn.ReLU(inplace=True))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = int(hidden)
        if out_features is not None:
            layers.append(nn.Linear(width, int(out_features)))
            width = int(out_features)
        super().__init__(*layers)
        self.out_features = width

    def forward(self, X):
        # An empty Sequential is the identity; Flatten first so images also pass through.
        return super().forward(X.flatten(1) if X.dim() > 2 else X)
