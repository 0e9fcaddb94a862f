import warnings

import numpy as np
import pytest

from skdomainclust import (
    ACIDSClusterer,
    CCNClusterer,
    PairwiseSimilarity,
    SourceOnlyClassifier,
)
from skdomainclust._contract import check_sample_domain, split_domains
from skdomainclust.xdc import XDCClusterer

from ._cases import make_shifted_blobs


def test_missing_sample_domain_is_inferred_from_masked_labels():
    y = np.array([3, 1, -1, 0, -1])
    np.testing.assert_array_equal(check_sample_domain(None, 5, y=y), [0, 0, -1, 0, -1])


def test_no_labels_means_every_row_is_target():
    np.testing.assert_array_equal(check_sample_domain(None, 3), [-1, -1, -1])


def test_predict_time_default_is_all_target_even_with_labels():
    y = np.array([1, 2, 3])
    np.testing.assert_array_equal(check_sample_domain(None, 3, y=y, fit=False), [-1, -1, -1])


def test_scalar_sample_domain_is_broadcast():
    np.testing.assert_array_equal(check_sample_domain(2, 3), [2, 2, 2])


def test_string_labels_are_never_masked():
    data = split_domains(np.zeros((3, 2)), np.array(["a", "b", "-1"]), None)
    assert data.source_mask.all()


@pytest.mark.parametrize(
    ("sample_domain", "error", "match"),
    [
        (np.zeros(4, dtype=int), ValueError, "4 entries but X has 3"),
        (np.zeros((3, 1), dtype=int), ValueError, "1-D"),
        (np.array([0.5, 0, -1]), ValueError, "integer"),
        (np.array(["a", "b", "c"]), TypeError, "integer"),
    ],
)
def test_bad_sample_domain(sample_domain, error, match):
    with pytest.raises(error, match=match):
        check_sample_domain(sample_domain, 3)


def test_masks_and_domains():
    X = np.zeros((6, 2))
    y = np.array([0, 1, -1, 2, 5, 5])
    sd = np.array([0, 1, 1, -1, -2, -2])
    data = split_domains(X, y, sd)
    np.testing.assert_array_equal(data.source_mask, [1, 1, 1, 0, 0, 0])
    # A source row labelled -1 is unlabelled; target rows are never labelled.
    np.testing.assert_array_equal(data.labelled_mask, [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(data.source_domains, [0, 1])
    np.testing.assert_array_equal(data.target_domains, [-2, -1])


def test_requirements_raise_clear_errors():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="No target rows"):
        split_domains(X, np.array([0, 1, 0, 1]), None, require_target=True)
    with pytest.raises(ValueError, match="No labelled source rows"):
        split_domains(X, np.full(4, -1), None, require_source_labels=True)
    with pytest.raises(ValueError, match="requires y to be passed"):
        split_domains(X, None, None, require_source_labels=True)
    with pytest.raises(ValueError, match="at least 2 source domains"):
        split_domains(X, None, np.array([0, 0, -1, -1]), min_source_domains=2)
    with pytest.raises(ValueError, match="Unknown label type"):
        split_domains(X, np.array([0.5, 1.5, 2.5, 3.5]), None, require_source_labels=True)


def test_labels_are_copied():
    y = np.array([0, 1, -1])
    data = split_domains(np.zeros((3, 2)), y, None)
    assert not np.shares_memory(data.y, y)


@pytest.mark.parametrize("mask", [np.array([False, False, True, True]), True, np.bool_(False)])
def test_a_boolean_sample_domain_is_refused_with_the_convention(mask):
    with pytest.raises(TypeError, match="integer domain ids.*np.where"):
        check_sample_domain(mask, 4)


@pytest.mark.parametrize("estimator", [SourceOnlyClassifier(max_epochs=1),
                                       PairwiseSimilarity(max_epochs=1),
                                       CCNClusterer(n_clusters=2, max_epochs=1)],
                         ids=lambda e: type(e).__name__)
def test_an_is_target_mask_never_lets_target_labels_into_training(estimator):
    X, y, sd = make_shifted_blobs()
    y = y.copy()
    y[sd < 0] = 999  # what the target rows would teach if they were taken as source
    with pytest.raises(TypeError, match="booleans"):
        estimator.fit(X, y, sample_domain=sd < 0)
    assert not hasattr(estimator, "classes_")


@pytest.mark.parametrize("estimator", [
    PairwiseSimilarity(max_epochs=1),
    CCNClusterer(n_clusters=2, max_epochs=1),
    XDCClusterer(max_epochs=1, hidden_dims=(8,), embedding_dim=4, gcn_dims=(8, 4)),
], ids=lambda e: type(e).__name__)
def test_a_single_class_source_cannot_teach_which_pairs_differ(estimator):
    X, y, sd = make_shifted_blobs()
    y = np.where(sd >= 0, 0, y)  # every labelled source row in class 0
    with pytest.raises(ValueError, match="1 class.*at least 2"):
        estimator.fit(X, y, sample_domain=sd)


def test_acids_checks_n_clusters_against_the_target_rows_too():
    X, y, sd = make_shifted_blobs(n_sources=2)
    keep = (sd >= 0) | (np.cumsum(sd < 0) <= 2)  # two target rows only
    with pytest.raises(ValueError, match="n_clusters=3 is larger than the number of target"):
        ACIDSClusterer(n_clusters=3, max_epochs=1).fit(X[keep], sample_domain=sd[keep])


@pytest.mark.parametrize("estimator", [SourceOnlyClassifier(max_epochs=1),
                                       CCNClusterer(n_clusters=3, max_epochs=1)],
                         ids=lambda e: type(e).__name__)
def test_fitting_true_target_labels_without_domains_warns(estimator):
    from skdomainclust import DomainInferenceWarning

    X, y, sd = make_shifted_blobs()
    with pytest.warns(DomainInferenceWarning, match="every row is taken as a labelled source"):
        estimator.fit(X, y)  # sample_domain forgotten, target labels in y
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainInferenceWarning)
        estimator.fit(X, np.where(sd < 0, -1, y))  # target rows masked: no warning
        estimator.fit(X, y, sample_domain=sd)


def test_a_target_scorer_without_domains_warns_that_it_scores_source_rows():
    from skdomainclust import DomainInferenceWarning
    from skdomainclust.metrics import get_scorer

    X, y, sd = make_shifted_blobs()
    model = SourceOnlyClassifier(max_epochs=1).fit(X, y, sample_domain=sd)
    with pytest.warns(DomainInferenceWarning, match="source rows included"):
        get_scorer("target_accuracy")(model, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DomainInferenceWarning)
        get_scorer("target_accuracy")(model, X, y, sample_domain=sd)
