"""DomainStandardScaler: every domain z-scored with its own statistics."""

import numpy as np
import pytest
import sklearn
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdomainclust import SourceOnlyClassifier
from skdomainclust.preprocessing import DomainStandardScaler

from ._cases import make_shifted_blobs


@parametrize_with_checks([DomainStandardScaler(), DomainStandardScaler(with_std=False)],
                         expected_failed_checks=lambda est: {
    "check_methods_subset_invariance": "a domain not seen in fit is standardised with the "
    "statistics of its own rows in the call, so a subset of them gets other statistics",
})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_every_domain_gets_zero_mean_and_unit_std():
    X, _, sd = make_shifted_blobs(n_sources=2)
    Z = DomainStandardScaler().fit_transform(X, sample_domain=sd)
    for d in np.unique(sd):
        np.testing.assert_allclose(Z[sd == d].mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(Z[sd == d].std(axis=0), 1, atol=1e-12)


@pytest.mark.parametrize("with_mean, with_std", [(True, False), (False, True), (False, False)])
def test_centring_and_scaling_can_be_switched_off(with_mean, with_std):
    """Each switch drops exactly its own moment, per domain (StandardScaler's names)."""
    X, _, sd = make_shifted_blobs(n_sources=2)
    Z = DomainStandardScaler(with_mean=with_mean, with_std=with_std).fit_transform(
        X, sample_domain=sd)
    for d in np.unique(sd):
        rows = X[sd == d]
        mean = rows.mean(axis=0) if with_mean else 0.0
        scale = rows.std(axis=0) if with_std else 1.0
        np.testing.assert_allclose(Z[sd == d], (rows - mean) / scale, atol=1e-12)


def test_fitted_statistics_are_reused_and_unseen_domains_use_their_own():
    X, _, sd = make_shifted_blobs()
    scaler = DomainStandardScaler().fit(X, sample_domain=sd)
    source = sd >= 0
    np.testing.assert_allclose(scaler.transform(X[source][:5], sample_domain=0),
                               scaler.transform(X, sample_domain=sd)[source][:5])
    shifted = X[source] * 3 + 7
    Z = scaler.transform(shifted, sample_domain=-5)  # a domain fit never saw
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    with pytest.raises(ValueError, match="single row"):
        scaler.transform(shifted[:1], sample_domain=-5)


def test_constant_features_are_centred_not_divided_by_zero():
    X = np.column_stack([np.arange(6.0), np.full(6, 3.0)])
    Z = DomainStandardScaler().fit_transform(X, sample_domain=np.repeat([0, -1], 3))
    assert np.isfinite(Z).all() and np.all(Z[:, 1] == 0)


def test_in_a_routed_pipeline_it_removes_a_per_domain_offset():
    X, y, sd = make_shifted_blobs(shift=0.0)
    X = X.copy()
    X[sd < 0] += 25.0  # the whole target moved: a per-domain z-score undoes it
    with sklearn.config_context(enable_metadata_routing=True):
        model = make_pipeline(DomainStandardScaler(),
                              SourceOnlyClassifier(hidden_dims=(32,), max_epochs=15, lr=1e-2,
                                                   random_state=0))
        model.fit(X, y, sample_domain=sd)
        predicted = model.predict(X[sd < 0], sample_domain=sd[sd < 0])
    assert np.mean(predicted == y[sd < 0]) > 0.9
