"""Tests of the built-in digits-shift benchmark."""

import numpy as np
import pytest
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import KNeighborsClassifier

from skdomainclust.datasets import DIGITS_SHIFT_DOMAINS, make_digits_shift

DEFAULT_DOMAINS = ("original", "rotated", "inverted", "noisy", "blurred")


@pytest.fixture(scope="module")
def all_domains():
    return make_digits_shift(domains=DIGITS_SHIFT_DOMAINS, random_state=0, return_images=True)


@pytest.fixture(scope="module")
def raw_digits():
    return load_digits().images.astype(np.float64) / 16.0


def test_shapes_dtypes_and_keys():
    data = make_digits_shift()
    assert data.domain_names == DEFAULT_DOMAINS
    assert data.X.shape == (1797, 64) and data.X.dtype == np.float32
    assert data.y.shape == data.domain.shape == data.digits_index.shape == (1797,)
    assert data.y.dtype == data.domain.dtype == data.digits_index.dtype == np.int64
    assert "images" not in data
    assert set(np.unique(data.domain)) == set(range(len(DEFAULT_DOMAINS)))
    np.testing.assert_array_equal(data.target_names, np.arange(10))
    assert 0.0 <= data.X.min() and data.X.max() <= 1.0
    assert "rotated" in data.DESCR


def test_images_match_X(all_domains):
    assert all_domains.images.shape == (1797, 1, 8, 8)
    assert all_domains.images.dtype == np.float32
    np.testing.assert_array_equal(all_domains.images.reshape(1797, 64), all_domains.X)


def test_deterministic_for_a_random_state():
    first = make_digits_shift(random_state=3)
    second = make_digits_shift(random_state=np.random.RandomState(3))
    for key in ("X", "y", "domain", "digits_index"):
        np.testing.assert_array_equal(first[key], second[key])
    other = make_digits_shift(random_state=4)
    assert not np.array_equal(first.digits_index, other.digits_index)


def test_domains_are_disjoint_balanced_and_stratified(all_domains):
    index = all_domains.digits_index
    # Every digit image is used exactly once, in exactly one domain.
    np.testing.assert_array_equal(np.sort(index), np.arange(1797))
    sizes = np.bincount(all_domains.domain)
    assert sizes.max() - sizes.min() <= 1
    counts = np.stack([np.bincount(all_domains.y[all_domains.domain == d], minlength=10)
                       for d in range(len(DIGITS_SHIFT_DOMAINS))])
    assert np.all(counts.max(axis=0) - counts.min(axis=0) <= 1)
    np.testing.assert_array_equal(all_domains.y, load_digits().target[index])


def test_each_domain_applies_its_transform(all_domains, raw_digits):
    def rows(name):
        mask = all_domains.domain == all_domains.domain_names.index(name)
        return all_domains.images[mask, 0], raw_digits[all_domains.digits_index[mask]]

    shifted_images, originals = rows("original")
    np.testing.assert_allclose(shifted_images, originals, atol=1e-7)
    shifted_images, originals = rows("inverted")
    np.testing.assert_allclose(shifted_images, 1.0 - originals, atol=1e-7)
    shifted_images, originals = rows("shifted")
    np.testing.assert_allclose(shifted_images[:, 1:, 1:], originals[:, :-1, :-1], atol=1e-7)
    assert np.all(shifted_images[:, 0, :] == 0) and np.all(shifted_images[:, :, 0] == 0)
    shifted_images, originals = rows("thick")
    assert np.all(shifted_images >= originals - 1e-7)
    shifted_images, originals = rows("blurred")
    np.testing.assert_allclose(
        shifted_images, ndimage.gaussian_filter(originals, (0, 1.0, 1.0), mode="constant"),
        atol=1e-6)
    shifted_images, originals = rows("noisy")
    assert np.abs(shifted_images - originals).mean() > 0.1


def test_accepts_a_single_name_and_any_subset():
    data = make_digits_shift(domains="noisy")
    assert data.domain_names == ("noisy",)
    assert data.X.shape == (1797, 64)
    two = make_digits_shift(domains=["thick", "original"])
    assert two.domain_names == ("thick", "original")
    assert sorted(np.bincount(two.domain).tolist()) == [898, 899]


@pytest.mark.parametrize("domains, message", [
    (("original", "sideways"), "Unknown digits-shift domain"),
    (("original", "original"), "twice"),
    ((), "at least one"),
])
def test_bad_domains(domains, message):
    with pytest.raises(ValueError, match=message):
        make_digits_shift(domains=domains)


def test_shift_is_real_but_clusters_remain(all_domains, raw_digits):
    """1-NN from "original" drops far below its accuracy on the same images unshifted."""
    source = all_domains.domain == 0
    knn = KNeighborsClassifier(n_neighbors=1).fit(all_domains.X[source], all_domains.y[source])
    for domain_id, name in enumerate(all_domains.domain_names[1:], start=1):
        target = all_domains.domain == domain_id
        unshifted = raw_digits[all_domains.digits_index[target]].reshape(-1, 64)
        shifted_accuracy = knn.score(all_domains.X[target], all_domains.y[target])
        unshifted_accuracy = knn.score(unshifted, all_domains.y[target])
        assert unshifted_accuracy > 0.9, name
        assert shifted_accuracy < unshifted_accuracy - 0.08, name
        # Clustering the target alone still recovers the classes to a good degree.
        labels = KMeans(n_clusters=10, n_init=3, random_state=0).fit_predict(
            all_domains.X[target])
        assert adjusted_rand_score(all_domains.y[target], labels) > 0.2, name

