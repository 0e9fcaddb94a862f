import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from skdomainclust.nn.kmeans import (
    cluster_means,
    kmeans,
    kmeans_plusplus,
    kmeans_restarts,
    squared_distances,
)


def _slow_kmeans(X, init, n_iter, empty="zero"):
    """Row by row Lloyd iterations; labels from the last assignment, centres their means."""
    centres = np.array(init, dtype=np.float64)
    for _ in range(n_iter):
        labels = np.array([int(np.argmin([np.sum((x - c) ** 2) for c in centres])) for x in X])
        new = np.zeros_like(centres) if empty == "zero" else centres.copy()
        for k in range(len(centres)):
            members = X[labels == k]
            if len(members):
                new[k] = members.mean(axis=0)
        centres = new
    return labels, centres


def test_squared_distances_match_pairwise_differences(rng):
    X, C = rng.normal(size=(7, 5)), rng.normal(size=(3, 5))
    expected = ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    got = squared_distances(torch.as_tensor(X), torch.as_tensor(C)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    # Identical rows give exactly 0, never a small negative number.
    same = torch.as_tensor(X[:2], dtype=torch.float32)
    assert (squared_distances(same, same) >= 0).all()


def test_cluster_means_handles_empty_and_ignored_rows():
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 10.0], [7.0, 7.0]])
    labels = torch.tensor([0, 0, 2, -1])
    means, counts = cluster_means(X, labels, 3)
    np.testing.assert_allclose(means.numpy(), [[2, 3], [0, 0], [10, 10]])
    np.testing.assert_allclose(counts.numpy(), [2, 0, 1])
    previous = torch.full((3, 2), 5.0)
    means, _ = cluster_means(X, labels, 3, empty="keep", previous=previous)
    np.testing.assert_allclose(means.numpy(), [[2, 3], [5, 5], [10, 10]])
    with pytest.raises(ValueError, match="previous"):
        cluster_means(X, labels, 3, empty="keep")
    with pytest.raises(ValueError, match="empty"):
        cluster_means(X, labels, 3, empty="drop")


@pytest.mark.parametrize("empty", ["zero", "keep"])
def test_kmeans_matches_slow_reference(rng, empty):
    X = np.concatenate([rng.normal(loc=m, size=(20, 3)) for m in (-3, 0, 3)])
    init = X[[0, 1, 2, 50]]  # a poor start: three centres in the first blob
    for n_iter in (1, 5):
        labels, centres = kmeans(torch.as_tensor(X), torch.as_tensor(init), n_iter, empty=empty)
        slow_labels, slow_centres = _slow_kmeans(X, init, n_iter, empty)
        np.testing.assert_array_equal(labels.numpy(), slow_labels)
        np.testing.assert_allclose(centres.numpy(), slow_centres, rtol=1e-10, atol=1e-12)


def test_kmeans_centres_are_means_of_returned_labels(rng):
    X = torch.as_tensor(rng.normal(size=(50, 4)), dtype=torch.float32)
    labels, centres = kmeans(X, X[:5], n_iter=3)
    means, _ = cluster_means(X, labels, 5)
    np.testing.assert_allclose(centres.numpy(), means.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="n_iter"):
        kmeans(X, X[:5], n_iter=0)


def test_kmeans_plusplus_picks_distinct_rows_reproducibly(rng):
    X = torch.as_tensor(rng.normal(size=(50, 3)))
    centres = kmeans_plusplus(X, 6, seed=1)
    rows = [int(torch.nonzero((X == c).all(dim=1))[0]) for c in centres]
    assert len(set(rows)) == 6
    torch.testing.assert_close(kmeans_plusplus(X, 6, seed=1), centres)


def test_kmeans_restarts_is_as_good_as_sklearn(rng):
    X = torch.as_tensor(rng.normal(size=(300, 5)) + 3 * rng.normal(size=(6, 5))[
        rng.integers(0, 6, size=300)])
    labels, centres, inertia = kmeans_restarts(X, 6, n_init=5, n_iter=30, seed=0)
    reference = KMeans(6, n_init=5, random_state=0).fit(X.numpy())
    assert inertia <= reference.inertia_ * 1.02
    recomputed = float(((X - centres[labels]) ** 2).sum())
    assert inertia == pytest.approx(recomputed, rel=1e-9)
    torch.testing.assert_close(centres[2], X[labels == 2].mean(dim=0))


def test_kmeans_rejects_more_clusters_than_rows():
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_restarts(torch.zeros(3, 2), 4)
