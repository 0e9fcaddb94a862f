"""The contract every public estimator owes its users, run over the registry in ``_cases``."""

import pickle

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdomainclust.metrics import get_scorer

from ._cases import CASES

CASE_IDS = [case.id for case in CASES]


def _expected_failed_checks(estimator):
    for case in CASES:
        if type(case.estimator) is type(estimator):
            return case.expected_failed_checks
    return {}


@parametrize_with_checks([case.estimator for case in CASES],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request):
    return request.param


def _fit(estimator, X, y, sample_domain):
    return estimator.fit(X, y, sample_domain=sample_domain)


def _scorer_for(estimator):
    name = "target_accuracy" if getattr(estimator, "_estimator_type", None) == "classifier" \
        else "target_cluster_accuracy"
    return get_scorer(name)


def test_predict_returns_one_label_per_row(case):
    X, y, sd = case.data()
    est = _fit(clone(case.estimator), X, y, sd)
    assert est.predict(X).shape == (len(X),)
    assert est.predict(X[:7]).shape == (7,)


def test_clone_keeps_params_and_refits(case):
    est = clone(case.estimator)
    assert est.get_params() == case.estimator.get_params()
    X, y, sd = case.data()
    _fit(est, X, y, sd)
    # Fitting a clone leaves the prototype unfitted.
    assert not hasattr(case.estimator, "net_")


def test_pickle_round_trip_gives_same_predictions(case):
    X, y, sd = case.data()
    est = _fit(clone(case.estimator), X, y, sd)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


def test_same_random_state_gives_identical_results(case):
    X, y, sd = case.data()
    first = _fit(clone(case.estimator), X, y, sd).predict(X)
    second = _fit(clone(case.estimator), X, y, sd).predict(X)
    np.testing.assert_array_equal(first, second)


def test_global_torch_rng_is_left_untouched(case):
    X, y, sd = case.data()
    before = torch.random.get_rng_state()
    _fit(clone(case.estimator), X, y, sd)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_inputs_are_not_modified(case):
    X, y, sd = case.data()
    X32 = X.astype(np.float32)  # float32 input is not copied by validation: the riskier case
    copies = X32.copy(), y.copy(), sd.copy()
    est = _fit(clone(case.estimator), X32, y, sd)
    est.predict(X32)
    np.testing.assert_array_equal(X32, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(sd, copies[2])


def test_target_labels_never_reach_training(case):
    """Scrambling (or masking) the labels of target rows must not change the fitted model."""
    X, y, sd = case.data()
    scrambled = y.copy()
    target = sd < 0
    scrambled[target] = np.random.default_rng(1).permutation(y[target])
    masked = y.copy()
    masked[target] = -1
    reference = _fit(clone(case.estimator), X, y, sd).predict(X)
    for labels in (scrambled, masked):
        np.testing.assert_array_equal(_fit(clone(case.estimator), X, labels, sd).predict(X),
                                      reference)


def test_domains_inferred_from_masked_labels(case):
    """Without sample_domain, rows with y == -1 are the target; the fit matches the explicit one."""
    X, y, sd = case.data()
    if case.n_sources > 1:
        pytest.skip("several source domains cannot be inferred from y")
    masked = np.where(sd < 0, -1, y)
    explicit = _fit(clone(case.estimator), X, masked, np.where(sd < 0, -1, 0)).predict(X)
    inferred = clone(case.estimator).fit(X, masked).predict(X)
    np.testing.assert_array_equal(inferred, explicit)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_input_is_rejected(case, bad):
    X, y, sd = case.data()
    X = X.copy()
    X[3, 1] = np.nan if bad == "nan" else np.inf
    with pytest.raises(ValueError, match="NaN|infinity"):
        _fit(clone(case.estimator), X, y, sd)


def test_wrong_ndim_is_rejected(case):
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="dim|2D|2-D"):
        _fit(clone(case.estimator), X[:, :, None], y, sd)


def test_length_mismatch_is_rejected(case):
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="sample_domain has"):
        _fit(clone(case.estimator), X, y, sd[:-1])
    with pytest.raises(ValueError, match="y has|inconsistent"):
        _fit(clone(case.estimator), X, y[:-1], sd)


def test_missing_target_rows_is_rejected(case):
    if not case.needs_target:
        pytest.skip("this estimator does not need target rows")
    X, y, sd = case.data()
    source = sd >= 0
    with pytest.raises(ValueError, match="[Nn]o target rows"):
        _fit(clone(case.estimator), X[source], y[source], sd[source])


def test_missing_source_labels_is_rejected(case):
    if not case.needs_source_labels:
        pytest.skip("this estimator does not need source labels")
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="[Nn]o labelled source rows"):
        _fit(clone(case.estimator), X, np.full_like(y, -1), sd)


def _small_grid(estimator):
    return {f"{type(estimator).__name__.lower()}__lr": [estimator.lr, estimator.lr / 2]}


def test_grid_search_in_pipeline_with_routed_sample_domain(case):
    X, y, sd = case.data()
    estimator = clone(case.estimator)
    cv = KFold(2, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(make_pipeline(StandardScaler(), estimator), _small_grid(estimator),
                              scoring=_scorer_for(estimator), cv=cv)
        search.fit(X, y, sample_domain=sd)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(X).shape == (len(X),)


def test_grid_search_in_pipeline_with_masked_labels(case):
    if case.n_sources > 1:
        pytest.skip("several source domains cannot be inferred from y")
    X, y, sd = case.data()
    masked = np.where(sd < 0, -1, y)
    estimator = clone(case.estimator)
    search = GridSearchCV(make_pipeline(StandardScaler(), estimator), _small_grid(estimator),
                          scoring=_scorer_for(estimator), cv=KFold(2, shuffle=True, random_state=0))
    search.fit(X, masked)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
