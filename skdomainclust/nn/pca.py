"""Starts that keep the input's geometry: a PCA projection layer and a residual around it.

Networks trained from scratch first scramble the neighbourhoods that precomputed (e.g.
pretrained) features already have; starting a trunk at the PCA projection of its training
rows, with a learned residual that starts at zero, makes epoch 0 equal the input's own
geometry, and the losses only refine it (UCDIR's and ACIDS' default on feature vectors).
"""

import torch
from torch import nn

__all__ = ["PCAResidual", "pca_linear"]


def pca_linear(X, out_features):
    """A ``Linear(n_features, out_features)`` that projects centred rows on the leading
    principal axes of ``X`` (a 2-D float tensor): ``(x - mean) V_r``; output dimensions past
    the rank are zero.

    Cosine similarity in this projection is cosine retrieval on the centred inputs, minus
    the low-variance directions: the geometry a pretrained feature already has.

    Examples
    --------
    >>> import torch
    >>> from skdomainclust.nn import pca_linear
    >>> X = torch.randn(50, 6)
    >>> layer = pca_linear(X, 8)
    >>> Z = layer(X).detach()
    >>> Z.shape, bool(Z[:, 6:].abs().max() < 1e-5)  # rank 6: the last two outputs are zero
    (torch.Size([50, 8]), True)
    >>> bool(Z[:, :6].var(dim=0).diff().le(1e-4).all())  # leading axes first
    True
    """
    X64 = X.detach().double()
    mean = X64.mean(dim=0)
    _, _, vt = torch.linalg.svd(X64 - mean, full_matrices=False)
    rank = min(int(out_features), vt.shape[0])
    weight = torch.zeros(int(out_features), X.shape[1], dtype=torch.float64, device=X.device)
    weight[:rank] = vt[:rank]
    layer = nn.Linear(X.shape[1], int(out_features))
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(-(weight @ mean))
    return layer.to(X.device)


class PCAResidual(nn.Module):
    """``skip(x) + residual(x)`` with the residual's last ``Linear`` zero-initialised.

    At initialisation the output is ``skip(x)`` exactly (a PCA projection of the inputs), so
    the first epoch starts from the input's own retrieval and the losses only refine it;
    the residual (and the skip, which stays trainable) then learn by gradient.

    Examples
    --------
    >>> import torch
    >>> from skdomainclust.nn import MLP, PCAResidual, pca_linear
    >>> X = torch.randn(40, 6)
    >>> encoder = PCAResidual(pca_linear(X, 4), MLP(6, (8,), out_features=4))
    >>> torch.equal(encoder(X), encoder.skip(X))
    True
    """

    def __init__(self, skip, residual):
        super().__init__()
        self.skip = skip
        self.residual = residual
        last = self.residual_output
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()

    @property
    def residual_output(self):
        """The residual's last ``Linear``: the layer that starts at zero."""
        return [m for m in self.residual.modules() if isinstance(m, nn.Linear)][-1]

    def forward(self, X):
        return self.skip(X) + self.residual(X)
