"""The geometry-keeping start shared by UCDIR and ACIDS (``skdomainclust.nn.pca``)."""

import numpy as np
import torch

from skdomainclust.nn import MLP
from skdomainclust.nn.pca import PCAResidual, pca_linear


def test_pca_linear_projects_centred_rows_on_the_leading_axes(rng):
    X = rng.normal(size=(50, 6)) @ rng.normal(size=(6, 6)) + 3.0
    layer = pca_linear(torch.as_tensor(X, dtype=torch.float32), 8)
    centred = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = layer(torch.as_tensor(X, dtype=torch.float32)).detach().double().numpy()
    # Axes are defined up to sign: compare the absolute projections; dims 6-7 are past the rank.
    np.testing.assert_allclose(np.abs(out[:, :6]), np.abs(centred @ vt.T), atol=1e-4)
    np.testing.assert_allclose(out[:, 6:], 0.0, atol=1e-6)


def test_the_pca_start_embeds_exactly_as_the_projection(rng):
    """Before any step the encoder is its PCA skip: training starts from the raw features'
    retrieval instead of from a random network's; the residual still gets gradient."""
    X = torch.as_tensor(rng.normal(size=(40, 6)), dtype=torch.float32)
    encoder = PCAResidual(pca_linear(X, 4), MLP(6, (8,), out_features=4))
    torch.testing.assert_close(encoder(X), encoder.skip(X))
    encoder(X).pow(2).sum().backward()
    assert encoder.residual_output.weight.grad.abs().sum() > 0
