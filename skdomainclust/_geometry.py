"""The target's own geometry: a check of a fitted clustering against k-means on the input rows.

A deep clusterer can end below k-means on the same rows without any loss showing it: CCN's
similarity network G fitted on a few auxiliary classes joins whole groups of target classes
(scikit-learn's digits: G fitted on 0-4 clusters 5-9 at 42 %, k-means at 89 %), and the
clustering network follows it. Whether k-means is a baseline to fear depends on the input:
its partition is reproducible across seeds where the features hold clusters (digits, pretrained
embeddings) and not where they hold little (raw pixels of new characters, SURF histograms),
where the learned method is what makes clustering possible. So the check measures both:

- *agreement*: NMI between the fitted clusters and k-means on the input (same number of
  clusters);
- *stability*: ARI between two k-means runs from different seeds (each the best of five
  restarts; Ben-Hur, Elisseeff & Guyon, 2002, use such agreement to tell structure from noise).

A fit warns (:class:`~skdomainclust.exceptions.GeometryDisagreementWarning`) when the input is
stable and the clusters do not follow it. Measured stabilities (true K): digits 0-4 or 5-9
0.97, MNIST -> USPS targets 0.83, Office-31 EfficientNet features 0.61-0.65; Omniglot
alphabets' pixels 0.25-0.42, Office-Caltech SURF 0.13-0.40.
"""

import warnings

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from .exceptions import GeometryDisagreementWarning
from .metrics import nmi
from .nn.kmeans import kmeans_restarts, squared_distances

__all__ = ["AGREEMENT_BELOW", "MAX_ROWS", "STABLE_FROM", "geometry_agreement", "input_geometry",
           "warn_if_geometry_disagrees"]

#: Agreement (NMI) under which a fit on a stable input warns. CCN on the digits case above
#: scores 0.23-0.35, with G fitted on the same classes 0.73.
AGREEMENT_BELOW = 0.5
#: Stability (ARI) from which the input's k-means counts as a partition to respect.
STABLE_FROM = 0.5
#: Rows the two k-means runs are fitted on (a seeded sample above it; every row is then
#: labelled by its nearest centre), so that the check stays O(n) in time and in memory.
MAX_ROWS = 10_000
#: Rows labelled at a time.
_CHUNK = 65_536


def input_geometry(X, n_clusters, *, seed, device):
    """k-means labels of the flattened rows ``X`` and their stability.

    Two k-means runs (``n_clusters`` clusters, 5 restarts, 20 rounds each) from the seeds
    ``seed`` and ``seed + 1``, each on a private generator. Above :data:`MAX_ROWS` rows both
    are fitted on one seeded sample of that size (the same for both), and every row is
    labelled by its nearest centre of the first run, in chunks: O(n) time and memory.

    Returns
    -------
    labels : LongTensor of shape (n,), on ``device``
        The first run's labels.
    stability : float
        Adjusted Rand index between the two runs, on the rows they were fitted on.
    """
    flat = torch.as_tensor(X, device=device).flatten(1).float()
    k = min(int(n_clusters), len(flat))
    sample = flat
    if len(flat) > MAX_ROWS:
        generator = torch.Generator().manual_seed(int(seed))
        sample = flat[torch.randperm(len(flat), generator=generator)[:MAX_ROWS].to(flat.device)]
    first, centres, _ = kmeans_restarts(sample, k, seed=seed)
    second, _, _ = kmeans_restarts(sample, k, seed=seed + 1)
    stability = float(adjusted_rand_score(first.cpu().numpy(), second.cpu().numpy()))
    if sample is not flat:
        first = torch.cat([squared_distances(flat[start:start + _CHUNK], centres).argmin(dim=1)
                           for start in range(0, len(flat), _CHUNK)])
    return first, stability


def geometry_agreement(input_labels, labels):
    """NMI in [0, 1] between the input's k-means labels and a clustering of the same rows."""
    return float(nmi(np.asarray(input_labels.cpu()), labels))


def warn_if_geometry_disagrees(estimator, remedy, stacklevel=2):
    """Warn when ``estimator.geometry_stability_`` is at least :data:`STABLE_FROM` and its
    ``geometry_agreement_`` below :data:`AGREEMENT_BELOW`; the message ends with ``remedy``."""
    agreement, stability = estimator.geometry_agreement_, estimator.geometry_stability_
    if agreement >= AGREEMENT_BELOW or stability < STABLE_FROM:
        return
    warnings.warn(
        f"{type(estimator).__name__}: the clusters agree little with k-means on the target's "
        f"own features (geometry_agreement_={agreement:.2f}, NMI), although that k-means "
        f"partition is stable across seeds (geometry_stability_={stability:.2f}, ARI): the "
        f"features hold structure the clustering does not follow, and k-means may score "
        f"better here. {remedy}",
        GeometryDisagreementWarning, stacklevel=stacklevel + 1)
