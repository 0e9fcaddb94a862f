"""Number-of-clusters defaults: no silent 8, a clear error, and the label-free estimate."""

import numpy as np
import pytest

from skdomainclust import ACIDSClusterer, CCNClusterer, PairwiseSimilarity, UCDIRRetriever
from skdomainclust.model_selection import estimate_n_clusters

from ._cases import make_shifted_blobs


@pytest.mark.parametrize("k", [3, 5, 9])
def test_the_estimate_recovers_separated_clusters(k):
    rng = np.random.default_rng(k)
    centres = rng.normal(scale=6.0, size=(k, 10))
    X = np.repeat(centres, 40, axis=0) + rng.normal(size=(40 * k, 10))
    assert estimate_n_clusters(X, random_state=0) == k


def test_the_estimate_standardises_each_domain_on_its_own():
    # Two domains of the same 3 clusters, one shifted far away: over the stacked rows the
    # shift passes for structure (the best 2-partition splits the domains); per domain it
    # is removed and the 3 clusters are found.
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(3, 8))
    X = np.repeat(centres, 40, axis=0) + rng.normal(size=(120, 8))
    X = np.concatenate([X, X[::-1] + 60.0 + rng.normal(size=X.shape)])
    sample_domain = np.repeat([0, -1], 120)
    assert estimate_n_clusters(X, random_state=0) == 2
    assert estimate_n_clusters(X, sample_domain=sample_domain, random_state=0) == 3


def test_the_estimate_is_seeded_and_leaves_global_state_alone():
    X, _, _ = make_shifted_blobs(n_per_class=30, n_classes=4, seed=2)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global state itself)
    first = estimate_n_clusters(X, random_state=3)
    assert estimate_n_clusters(X, random_state=3) == first
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


@pytest.mark.parametrize("kwargs, message", [
    ({"max_clusters": 1}, "max_clusters"), ({"max_clusters": True}, "max_clusters"),
])
def test_the_estimate_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_n_clusters(np.zeros((20, 2)), **kwargs)
    with pytest.raises(ValueError, match="4 rows"):
        estimate_n_clusters(np.zeros((3, 2)))


@pytest.mark.parametrize("estimator, n_sources", [
    (ACIDSClusterer(max_epochs=1, adapt_epochs=1), 2),
    (UCDIRRetriever(max_epochs=1, warmup_epochs=1), 1),
])
def test_clusterers_that_need_k_ask_for_it_instead_of_assuming_8(estimator, n_sources):
    assert estimator.n_clusters is None
    X, _, sample_domain = make_shifted_blobs(n_per_class=20, n_sources=n_sources, seed=0)
    with pytest.raises(ValueError, match="needs n_clusters.*estimate_n_clusters"):
        estimator.fit(X, sample_domain=sample_domain)
    assert not hasattr(estimator, "net_")


def test_ccn_clusterer_takes_k_from_the_labelled_source_classes():
    X, y, sample_domain = make_shifted_blobs(n_per_class=30, n_classes=4, shift=0.3, seed=0)
    y = np.where(sample_domain < 0, -1, y)
    G = PairwiseSimilarity(hidden_dims=(32,), max_epochs=10, random_state=0)
    model = CCNClusterer(similarity=G, hidden_dims=(32,), max_epochs=3, random_state=0)
    model.fit(X, y, sample_domain=sample_domain)
    assert model.n_clusters is None and model.n_clusters_ == 4
    assert model.predict_proba(X).shape == (len(X), 4)


def test_ccn_clusterer_without_labelled_rows_asks_for_k():
    X, y, sample_domain = make_shifted_blobs(n_per_class=30, n_classes=4, shift=0.3, seed=0)
    G = PairwiseSimilarity(hidden_dims=(32,), max_epochs=2, random_state=0)
    G.fit(X[sample_domain >= 0], y[sample_domain >= 0])
    target = sample_domain < 0
    with pytest.raises(ValueError, match="CCNClusterer needs n_clusters"):
        CCNClusterer(similarity=G, max_epochs=1).fit(X[target], sample_domain=-1)
    model = CCNClusterer(n_clusters=6, similarity=G, hidden_dims=(32,), max_epochs=1,
                         random_state=0).fit(X[target], sample_domain=-1)
    assert model.n_clusters_ == 6
