"""UCDIR rows: unsupervised cross-domain retrieval between two unlabelled domains.

Tasks (``TASKS``), each a pair of domains A (``sample_domain`` 0) and B (-1), both unlabelled
for the methods; retrieval is scored in both directions (A->B: every row of A queries the rows
of B, and B->A), a retrieved row being relevant when it has the query's class:

- ``retrieval_surf:{amazon->webcam, amazon->dslr, caltech->amazon, caltech->webcam}``:
  Office-Caltech10 SURF (800-d), rows divided by their sum, then z-scored per domain;
- ``retrieval_decaf:dslr->webcam``: Office-Caltech10 DeCAF6 (4096-d), rows L2-normalised;
- ``retrieval_digits:mnist->usps``: MNIST (2000) and USPS (1800) at 16x16 (256-d), rows
  L2-normalised (the JDA protocol);
- ``retrieval_office31:{amazon->dslr, amazon->webcam, dslr->webcam}``: Office-31 as ImageNet
  EfficientNet-Lite0 features (1280-d), every pair of domains, 31 classes.

Every row below then z-scores each domain on its own (population std; a no-op for SURF), so
the methods differ only in what they learn, not in their input.

Rows (``METHODS``), all scored with ``UCDIRRetriever``'s evaluation path
(:func:`skdomainclust.metrics.cross_domain_retrieval_scores`: ``skdomainclust.metrics``'
``precision_at_k``, both variants, and ``mean_average_precision`` over the whole ranking):

- ``Raw features (cosine)``: the per-domain standardised features themselves (no labels out).
- ``Raw features (cosine, as loaded)``: the features as the task loads them, without the
  per-domain z-score (on Office-31 the raw non-negative activations): the other obvious
  baseline, so that every method is compared with the better of the two.
- ``UCDIR instance-only``: ``UCDIRRetriever`` with the cluster-wise, self-entropy and
  distance-of-distance weights at 0 (the warm-up losses alone, for the whole schedule).
- ``UCDIR``: ``UCDIRRetriever(n_clusters=<number of classes>)`` with its defaults (the PCA
  start; cluster-wise positives from the intersection of the clusterings into K and 2K).

The per-domain z-score is also what UCDIR gets. On seeds 0-1 UCDIR did better on the digits
pair with the features as loaded or only centred per domain, and worse on DeCAF dslr<->webcam
(``python -m benchmarks.ucdir_defaults``); one input rule serves every task, and the z-score
is the one that keeps every task within reach of raw retrieval.

The UCDIR rows also return the nearest-prototype cluster of the rows of B as labels, so the
runner reports their Hungarian-matched ACC on B. ``Outcome.metrics`` holds, in [0, 1]:
``A->B P@{1,5,15}``, ``B->A P@{1,5,15}``, the truncated (UCDIR code) ``P@15`` of both
directions, ``A->B mAP``, ``B->A mAP``, and the means over the two directions ``P@1``, ``mAP``.
"""

import functools
import os

import numpy as np

from skdomainclust.metrics import cross_domain_retrieval_scores
from skdomainclust.preprocessing import DomainStandardScaler
from skdomainclust.ucdir import UCDIRRetriever

from ..registry import Method, Outcome, Task

SURF_PAIRS = (("amazon", "webcam"), ("amazon", "dslr"), ("caltech", "amazon"),
              ("caltech", "webcam"))
CUTOFFS = (1, 5, 15)


def _data_home():
    """``$SKDOMAINCLUST_DATA``, else the shared data folder beside the checkout."""
    home = os.environ.get("SKDOMAINCLUST_DATA")
    if home:
        return home
    return os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


@functools.cache
def _dataset(family):
    from skdomainclust.datasets import (
        load_mnist_usps_jda,
        load_office31,
        load_office_caltech_decaf,
        load_office_caltech_surf,
    )

    home = _data_home()
    if family == "surf":
        return load_office_caltech_surf(preprocessing="standard", data_home=home)
    if family == "decaf":
        return load_office_caltech_decaf(preprocessing="l2", data_home=home)
    if family == "digits":
        return load_mnist_usps_jda(preprocessing="l2", data_home=home)
    if family == "office31":
        return load_office31(preprocessing=None, data_home=home)
    raise KeyError(family)


def _loader(family, domain_a, domain_b):
    def load():
        from skdomainclust.datasets import stack_domains

        return stack_domains(_dataset(family), source=domain_a, target=domain_b)

    return load


def _task(family, domain_a, domain_b, n_classes=10):
    return Task(name=f"retrieval_{family}:{domain_a}->{domain_b}", family=f"retrieval_{family}",
                load=_loader(family, domain_a, domain_b), n_classes=n_classes, dataset=family)


TASKS = [
    *(_task("surf", a, b) for a, b in SURF_PAIRS),
    _task("decaf", "dslr", "webcam"),
    _task("digits", "mnist", "usps"),
    *(_task("office31", a, b, n_classes=31)
      for a, b in (("amazon", "dslr"), ("amazon", "webcam"), ("dslr", "webcam"))),
]
TASK_NAMES = [task.name for task in TASKS]
QUICK = ["retrieval_surf:amazon->webcam", "retrieval_decaf:dslr->webcam"]


def standardise_per_domain(X, sample_domain):
    """Z-score every feature within each domain (:class:`DomainStandardScaler`; float32)."""
    scaler = DomainStandardScaler()
    return scaler.fit_transform(X, sample_domain=sample_domain).astype(np.float32)


def _metrics(scores):
    """The recorded subset of :func:`cross_domain_retrieval_scores`' keys."""
    keys = [f"{d} P@{k}" for d in ("A->B", "B->A") for k in CUTOFFS]
    keys += [f"{d} P@15 (truncated)" for d in ("A->B", "B->A")]
    keys += ["A->B mAP", "B->A mAP", "P@1", "mAP"]
    return {key: float(scores[key]) for key in keys}


def _labels_for_scoring(task):
    """True labels of every row (the runner masks B's labels; scoring needs them all)."""
    _, y, _ = task.load()
    return y


def run_raw(task, X, y, sample_domain, seed):
    """Cosine retrieval on the per-domain standardised features."""
    X = standardise_per_domain(X, sample_domain)
    y_true = _labels_for_scoring(task)
    scores = cross_domain_retrieval_scores(X, y_true, sample_domain >= 0, CUTOFFS)
    return Outcome(labels=None, metrics=_metrics(scores))


def run_raw_unstandardised(task, X, y, sample_domain, seed):
    """Cosine retrieval on the task's features as loaded (no per-domain z-score)."""
    y_true = _labels_for_scoring(task)
    scores = cross_domain_retrieval_scores(X, y_true, sample_domain >= 0, CUTOFFS)
    return Outcome(labels=None, metrics=_metrics(scores))


def _run_ucdir(**params):
    def run(task, X, y, sample_domain, seed):
        X = standardise_per_domain(X, sample_domain)
        model = UCDIRRetriever(n_clusters=task.n_classes, random_state=seed, **params)
        model.fit(X, sample_domain=sample_domain)  # labels never reach fit
        y_true = _labels_for_scoring(task)
        scores = model.retrieval_scores(X, y_true, sample_domain, k=CUTOFFS)
        return Outcome(labels=model.labels_[sample_domain < 0], metrics=_metrics(scores))

    run.__doc__ = f"UCDIRRetriever(n_clusters=<classes>, {params}) on the standardised rows."
    return run


INSTANCE_ONLY = dict(cluster_weight=0.0, entropy_weight=0.0, dd_weight=0.0)

METHODS = [
    Method("Raw features (cosine)", run_raw, {"quick": QUICK, "full": TASK_NAMES},
           baseline=True),
    Method("Raw features (cosine, as loaded)", run_raw_unstandardised,
           {"quick": QUICK, "full": TASK_NAMES}, baseline=True),
    Method("UCDIR instance-only", _run_ucdir(**INSTANCE_ONLY),
           {"quick": QUICK, "full": TASK_NAMES}),
    Method("UCDIR", _run_ucdir(), {"quick": QUICK, "full": TASK_NAMES}),
]
