"""The target's own geometry: k-means on the input rows, as a check of a fitted clustering
and as a bound on the pair targets (CCNClusterer's ``geometry``).

A similarity network G trained on a few auxiliary classes can fail on a new target in a way
the clustering objective cannot see: it calls whole groups of target classes "similar" (on
scikit-learn's digits, G fitted on 0-4 calls 32 % of the 5-9 pairs similar with 32 %
precision), and the clustering network follows it. The target's input features often hold
the structure G misses; these helpers measure how far a clustering strays from it and, on
request, keep G from joining rows the input separates.
"""

import torch

from ..metrics import nmi
from ..nn.kmeans import kmeans_restarts

__all__ = ["GEOMETRY_WARNING_BELOW", "SameInputCluster", "geometry_agreement", "input_clusters"]

#: ``geometry_agreement_`` below which CCNClusterer warns. On scikit-learn's digits the
#: failure case above scores 0.24 and G fitted on the same classes 0.73; well-separated
#: clusters score near 1.
GEOMETRY_WARNING_BELOW = 0.5


def input_clusters(X, n_clusters, *, seed, device):
    """k-means labels (``n_clusters``, 5 restarts, 20 rounds) of the flattened rows ``X``,
    as a LongTensor on ``device``; O(n k) memory."""
    flat = torch.as_tensor(X, device=device).flatten(1).float()
    k = min(int(n_clusters), len(flat))
    labels, _, _ = kmeans_restarts(flat, k, seed=seed)
    return labels


def geometry_agreement(input_labels, labels):
    """NMI in [0, 1] between the input's k-means labels and a clustering of the same rows."""
    return float(nmi(input_labels.cpu().numpy(), labels))


class SameInputCluster:
    """A similarity source whose pairs count as similar only inside one input cluster.

    ``s_ij = G_ij * 1[c_i == c_j]`` with ``c`` the input's k-means labels: G may still split
    an input cluster, never join two (the way a G that does not transfer fails).
    """

    def __init__(self, source, input_labels):
        self.source = source
        self.input_labels = input_labels

    def __call__(self, X_seen, X_raw, rows):
        clusters = self.input_labels[rows]
        same = (clusters[:, None] == clusters[None, :]).to(X_seen.dtype)
        return self.source(X_seen, X_raw, rows) * same
