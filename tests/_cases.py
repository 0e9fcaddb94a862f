"""Registry of the public estimators for the shared suite in ``test_common.py``.

Every public estimator adds one :class:`Case`: a fast instance (few epochs, small layers) and
what its ``fit`` requires. ``test_common.py`` runs the same behavioural contract over all of
them, so a new method only has to register here.
"""

from dataclasses import dataclass, field

import numpy as np

from skdomainclust import SourceOnlyClassifier


def make_shifted_blobs(n_per_class=30, n_classes=3, n_features=6, n_sources=1, n_targets=1,
                       shift=1.0, seed=0):
    """Well-separated Gaussian classes; each domain a rotated and offset copy of the first.

    Returns ``X, y, sample_domain`` with sources ``0..n_sources-1`` then targets ``-1, -2, ...``
    and true labels on every row (the estimators must ignore target labels).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(n_classes, n_features))
    blocks, labels, domains = [], [], []
    domain_ids = list(range(n_sources)) + [-(i + 1) for i in range(n_targets)]
    for k, domain in enumerate(domain_ids):
        q, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
        rotation = np.eye(n_features) + shift * 0.3 * k * (q - np.eye(n_features))
        offset = shift * 0.5 * k * rng.normal(size=n_features)
        y = np.repeat(np.arange(n_classes), n_per_class)
        X = centres[y] + rng.normal(size=(len(y), n_features))
        blocks.append(X @ rotation + offset)
        labels.append(y)
        domains.append(np.full(len(y), domain))
    return (np.concatenate(blocks).astype(np.float64), np.concatenate(labels),
            np.concatenate(domains))


@dataclass
class Case:
    """One estimator in the shared suite.

    Attributes
    ----------
    estimator : a fast, seeded instance.
    needs_source_labels : fit raises without labelled source rows.
    needs_target : fit raises without target rows.
    n_sources : number of source domains the test data should have.
    expected_failed_checks : sklearn estimator checks that cannot apply, each with the reason.
    """

    estimator: object
    needs_source_labels: bool = False
    needs_target: bool = False
    n_sources: int = 1
    expected_failed_checks: dict = field(default_factory=dict)

    @property
    def id(self):
        return type(self.estimator).__name__

    def data(self, seed=0):
        return make_shifted_blobs(n_sources=self.n_sources, seed=seed)


CASES = [
    Case(
        SourceOnlyClassifier(hidden_dims=(32,), max_epochs=15, lr=1e-2, batch_size=32,
                             random_state=0),
        needs_source_labels=True,
        expected_failed_checks={
            "check_classifiers_classes": "uses -1 as a class label, which the data contract "
            "reserves for unlabelled rows",
        },
    ),
]
