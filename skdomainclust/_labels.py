"""Cluster ids that depend on the partition only."""

import numpy as np

__all__ = ["number_by_first_member"]


def number_by_first_member(labels):
    """Renumber cluster ids ``0..C-1`` in the order of each cluster's first row.

    Two labellings of the same partition get the same ids, whatever numbering the algorithm
    that made them followed (merge order, label creation order).

    Examples
    --------
    >>> number_by_first_member(np.array([7, 7, 3, 9, 3]))
    array([0, 0, 1, 2, 1])
    """
    _, first, inverse = np.unique(np.asarray(labels), return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.ravel()]
