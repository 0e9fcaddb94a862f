"""Baselines every table needs: what a user would run instead of a method.

k-means on the target with the true K, 1-NN from the source, the source-only network
(``SourceOnlyClassifier`` at its defaults) and scikit-learn's ``LogisticRegression``
trained on the source (the strongest shallow source-only baseline on these features). On
``office31`` k-means also runs on L2-normalised rows (see ``benchmarks.tasks``).

This module is also the example of a method module: a list ``METHODS`` of
:class:`~benchmarks.registry.Method`, each with a ``run(task, X, y, sample_domain, seed)``
that must not read target labels (the runner masks them to -1 anyway).
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from skdomainclust import SourceOnlyClassifier

from ..registry import Method, Outcome

STANDARD = ["digits_shift", "surf", "decaf", "digits", "office31"]
QUICK = ["digits_shift", "surf:amazon->webcam", "surf:caltech->dslr", "digits:mnist->usps"]


def run_kmeans(task, X, y, sample_domain, seed):
    """k-means with the true K on the target rows alone (n_init=10)."""
    target = sample_domain < 0
    model = KMeans(n_clusters=task.n_classes, n_init=10, random_state=seed)
    return Outcome(labels=model.fit_predict(X[target]))


def run_kmeans_l2(task, X, y, sample_domain, seed):
    """k-means with the true K on the target rows, each row divided by its Euclidean norm."""
    rows = X[sample_domain < 0].astype(np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    model = KMeans(n_clusters=task.n_classes, n_init=10, random_state=seed)
    return Outcome(labels=model.fit_predict(rows))


def run_logistic_regression(task, X, y, sample_domain, seed):
    """``LogisticRegression(max_iter=1000)`` (C=1, lbfgs) on the labelled source rows."""
    source = sample_domain >= 0
    model = LogisticRegression(max_iter=1000, random_state=seed).fit(X[source], y[source])
    return Outcome(labels=model.predict(X[sample_domain < 0]))


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
    Method("k-means (target, true K)", run_kmeans, {"quick": QUICK, "full": STANDARD},
           baseline=True),
    Method("Source only (MLP)", run_source_only, {"quick": QUICK, "full": STANDARD},
           labels_are_classes=True, baseline=True),
    Method("1-NN", run_one_nn, {"quick": QUICK, "full": STANDARD}, labels_are_classes=True,
           baseline=True),
    Method("Logistic regression (source)", run_logistic_regression,
           {"quick": QUICK, "full": STANDARD}, labels_are_classes=True, baseline=True),
    Method("k-means (target, true K, L2 rows)", run_kmeans_l2, {"full": ["office31"]},
           baseline=True),
]
