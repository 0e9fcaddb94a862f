"""Nearest neighbours of every row within its own domain: the neighbour views of ACIDS and
UCDIR (a training row is paired with, or mixed with, one of its same-domain neighbours)."""

import torch
import torch.nn.functional as F

from .pivot_graph import knn_graph

__all__ = ["within_domain_neighbours"]


def within_domain_neighbours(X, sample_domain, n_neighbors):
    """The ``n_neighbors`` nearest rows of each row within its own domain (cosine similarity).

    Parameters
    ----------
    X : Tensor of shape (N, ...)
        Rows (flattened for the similarity).
    sample_domain : Tensor of shape (N,)
        Domain id of every row.
    n_neighbors : int
        Capped at the size of the smallest domain minus one (at least 1: a domain of one row
        is its own neighbour).

    Returns
    -------
    LongTensor of shape (N, k)
        Row indices into ``X``, most similar first, the row itself excluded.
    """
    flat = F.normalize(X.flatten(1).float(), dim=1)
    domains = torch.unique(sample_domain)
    members = [torch.nonzero(sample_domain == d).squeeze(1) for d in domains]
    k = max(1, min(int(n_neighbors), min(len(rows) for rows in members) - 1))
    table = torch.empty((len(X), k), dtype=torch.long, device=X.device)
    for rows in members:
        if len(rows) == 1:
            table[rows] = rows
        else:
            table[rows] = rows[knn_graph(flat[rows], k)]
    return table
