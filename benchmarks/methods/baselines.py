"""Baselines every table needs: k-means on the target, the source-only network, and 1-NN.

This module is also the example of a method module: a list ``METHODS`` of
:class:`~benchmarks.registry.Method`, each with a ``run(task, X, y, sample_domain, seed)``
that must not read target labels (the runner masks them to -1 anyway).
"""

from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsClassifier

from skdomainclust import SourceOnlyClassifier

from ..registry import Method, Outcome

STANDARD = ["digits_shift", "surf", "decaf", "digits"]
QUICK = ["digits_shift", "surf:amazon->webcam", "surf:caltech->dslr", "digits:mnist->usps"]


def run_kmeans(task, X, y, sample_domain, seed):
    """k-means with the true K on the target rows alone (n_init=10)."""
    target = sample_domain < 0
    model = KMeans(n_clusters=task.n_classes, n_init=10, random_state=seed)
    return Outcome(labels=model.fit_predict(X[target]))


def run_source_only(task, X, y, sample_domain, seed):
    """``SourceOnlyClassifier`` with its defaults: the no-adaptation network."""
    model = SourceOnlyClassifier(random_state=seed).fit(X, y, sample_domain=sample_domain)
    return Outcome(labels=model.predict(X[sample_domain < 0]))


def run_one_nn(task, X, y, sample_domain, seed):
    """1-nearest-neighbour from labelled source rows (Euclidean on the task's features)."""
    source, target = sample_domain >= 0, sample_domain < 0
    model = KNeighborsClassifier(n_neighbors=1).fit(X[source], y[source])
    return Outcome(labels=model.predict(X[target]))


METHODS = [
    Method("k-means (target, true K)", run_kmeans, {"quick": QUICK, "full": STANDARD}),
    Method("Source only (MLP)", run_source_only, {"quick": QUICK, "full": STANDARD},
           labels_are_classes=True),
    Method("1-NN", run_one_nn, {"quick": QUICK, "full": STANDARD}, labels_are_classes=True),
]
