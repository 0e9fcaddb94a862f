"""Target-domain scorers: row selection, metadata routing, and real GridSearchCV runs."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import accuracy_score, adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.metadata_routing import get_routing_for_object

from skdomainclust.metrics import (
    SourceScorer,
    TargetScorer,
    UnsupervisedScorer,
    bcubed_f1,
    cluster_accuracy,
    get_scorer,
    get_scorer_names,
    make_target_scorer,
    nmi,
    pairwise_f1,
    target_nmi_scorer,
)


class ColumnPredictor(ClassifierMixin, BaseEstimator):
    """Stand-in estimator: ``predict`` returns the integer column ``column`` of ``X``.

    It records whether ``fit`` and ``predict`` were given ``sample_domain``, and requests it
    for both, as skdomainclust's estimators do.
    """

    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__predict = {"sample_domain": True}

    def __init__(self, column=0):
        self.column = column

    def fit(self, X, y=None, sample_domain=None):
        self.fit_saw_sample_domain_ = sample_domain is not None
        self.classes_ = np.unique(np.asarray(y)[np.asarray(y) != -1]) if y is not None else None
        return self

    def predict(self, X, sample_domain=None):
        self.predict_sample_domain_ = sample_domain
        return np.asarray(X)[:, self.column].astype(int)

    def predict_proba(self, X):
        column = np.asarray(X)[:, self.column].astype(int)
        return np.eye(3)[column]


class NoDomainPredictor(BaseEstimator):
    """A third-party estimator whose predict takes no sample_domain."""

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0].astype(int)


def stacked_problem(n=48, seed=0):
    """Interleaved source (even rows) and target (odd rows) with known predictions.

    Column 0 predicts the target rows perfectly and every source row as class 0; column 1
    predicts the source rows perfectly and every target row as class 0.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    y[:6] = [0, 1, 2, 1, 2, 1]  # every class on both domains
    sample_domain = np.where(np.arange(n) % 2 == 0, 0, -1)
    target = sample_domain < 0
    X = np.column_stack([np.where(target, y, 0), np.where(target, 0, y)]).astype(float)
    return X, y, sample_domain


# -- direct calls ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, metric", [
    ("target_accuracy", accuracy_score),
    ("target_cluster_accuracy", cluster_accuracy),
    ("target_nmi", nmi),
    ("target_pairwise_f1", pairwise_f1),
    ("target_bcubed_f1", bcubed_f1),
    ("target_ari", adjusted_rand_score),
])
def test_predefined_scorers_score_target_rows_only(name, metric):
    X, y, sample_domain = stacked_problem()
    estimator = ColumnPredictor(column=1).fit(X, y)
    target = sample_domain < 0
    scorer = get_scorer(name)
    expected = metric(y[target], X[target, 1].astype(int))
    assert scorer(estimator, X, y, sample_domain=sample_domain) == pytest.approx(expected)
    # Column 0 is perfect on the target rows, whatever it does on the source rows.
    assert scorer(ColumnPredictor(column=0).fit(X, y), X, y,
                  sample_domain=sample_domain) == pytest.approx(1.0)


def test_mask_rule_without_sample_domain():
    X, y, sample_domain = stacked_problem()
    masked = np.where(sample_domain < 0, -1, y)  # the y == -1 workflow: source rows scored
    scorer = get_scorer("target_accuracy")
    assert scorer(ColumnPredictor(column=1).fit(X, masked), X, masked) == 1.0
    source = sample_domain >= 0
    assert scorer(ColumnPredictor(column=0).fit(X, masked), X, masked) == pytest.approx(
        np.mean(y[source] == 0))
    # No -1 at all (or non-numeric labels): every row is scored.
    assert scorer(ColumnPredictor(column=0), X, y) == pytest.approx(accuracy_score(y, X[:, 0]))
    letters = np.array(["a", "b", "c"])
    assert get_scorer("target_nmi")(ColumnPredictor(column=0), X, letters[y]) == pytest.approx(
        normalized_mutual_info_score(letters[y], X[:, 0]))


def test_masked_target_rows_are_dropped_and_empty_selections_fail():
    X, y, sample_domain = stacked_problem()
    scorer = get_scorer("target_accuracy")
    partly_masked = y.copy()
    partly_masked[1] = -1  # a target row without ground truth
    rows = (sample_domain < 0) & (partly_masked != -1)
    assert scorer(ColumnPredictor(column=1), X, partly_masked, sample_domain=sample_domain) == (
        pytest.approx(accuracy_score(y[rows], X[rows, 1])))
    with pytest.raises(ValueError, match="every target row is labelled -1"):
        scorer(ColumnPredictor(), X, np.where(sample_domain < 0, -1, y),
               sample_domain=sample_domain)
    with pytest.raises(ValueError, match="no target row"):
        scorer(ColumnPredictor(), X, y, sample_domain=np.zeros(len(y), dtype=int))
    with pytest.raises(ValueError, match="every label is the mask"):
        scorer(ColumnPredictor(), X, np.full(len(y), -1))
    with pytest.raises(ValueError, match="needs the true labels"):
        scorer(ColumnPredictor(), X, None)
    with pytest.raises(ValueError, match="sample_domain has 3 entries"):
        scorer(ColumnPredictor(), X, y, sample_domain=[0, -1, -1])


def test_sample_domain_reaches_predict_when_accepted():
    X, y, sample_domain = stacked_problem()
    estimator = ColumnPredictor(column=0)
    target_nmi_scorer(estimator, X, y, sample_domain=sample_domain)
    np.testing.assert_array_equal(estimator.predict_sample_domain_, sample_domain)
    target_nmi_scorer(estimator, X, y)
    assert estimator.predict_sample_domain_ is None
    # Only a named sample_domain parameter gets it (a bare **kwargs may not take it).
    class KwargsPredictor(NoDomainPredictor):
        def predict(self, X, **params):
            assert not params
            return super().predict(X)

    assert target_nmi_scorer(KwargsPredictor(), X, y, sample_domain=sample_domain) == 1.0
    # A scalar sample_domain marks every row as target.
    assert target_nmi_scorer(NoDomainPredictor(), X, y, sample_domain=-1) == pytest.approx(
        nmi(y, X[:, 0]))


def test_make_target_scorer_options():
    X, y, sample_domain = stacked_problem()
    target = sample_domain < 0
    seen = []

    def mean_true_class_probability(y_true, proba, *, offset=0.0):
        seen.append(len(y_true))
        return proba[np.arange(len(y_true)), y_true].mean() + offset

    scorer = make_target_scorer(mean_true_class_probability, response_method="predict_proba",
                                greater_is_better=False, offset=1.0)
    assert scorer(ColumnPredictor(column=0), X, y, sample_domain=sample_domain) == -2.0
    assert seen == [target.sum()]
    assert "greater_is_better=False" in repr(scorer) and "offset=1.0" in repr(scorer)
    # A tuple of response methods: the first one the estimator has is used.
    fallback = make_target_scorer(accuracy_score, response_method=("decision_function",
                                                                     "predict"))
    assert fallback(ColumnPredictor(column=0), X, y, sample_domain=sample_domain) == 1.0
    with pytest.raises(AttributeError, match="none of the response methods"):
        make_target_scorer(nmi, response_method="transform")(ColumnPredictor(), X, y)


def test_per_row_metadata_is_sliced_to_the_scored_rows():
    X, y, sample_domain = stacked_problem()
    target = sample_domain < 0
    weights = np.linspace(1.0, 2.0, len(y))
    scorer = get_scorer("target_accuracy")
    estimator = ColumnPredictor(column=1)
    expected = accuracy_score(y[target], X[target, 1], sample_weight=weights[target])
    assert scorer(estimator, X, y, sample_domain=sample_domain,
                  sample_weight=weights) == pytest.approx(expected)
    assert scorer._accept_sample_weight() and not target_nmi_scorer._accept_sample_weight()


# -- registry, routing requests, pickling ----------------------------------------------------


def test_get_scorer_and_names():
    assert get_scorer_names() == sorted([
        "target_accuracy", "target_cluster_accuracy", "target_nmi", "target_pairwise_f1",
        "target_bcubed_f1", "target_ari", "unsupervised_entropy", "unsupervised_snd",
        "unsupervised_kmeans_agreement", "unsupervised_bnm", "unsupervised_class_ami",
        "source_accuracy", "source_pairwise_f1", "source_iwv_accuracy", "source_dev"])
    kinds = {"target": TargetScorer, "unsupervised": UnsupervisedScorer,
             "source": SourceScorer}
    for name in get_scorer_names():
        assert isinstance(get_scorer(name), kinds[name.split("_")[0]])
    # Fresh copies: changing one leaves the predefined scorer alone.
    assert get_scorer("target_nmi") is not target_nmi_scorer
    get_scorer("target_nmi").set_score_request(sample_domain=False)
    assert get_routing_for_object(get_scorer("target_nmi")).consumes("score", ["sample_domain"])
    # Other names are scikit-learn's.
    assert get_scorer("accuracy") is not None and not isinstance(get_scorer("accuracy"),
                                                                 TargetScorer)
    with pytest.raises(ValueError, match="target_nmi"):
        get_scorer("no_such_scorer")


def test_requests_sample_domain_by_default_and_can_be_changed():
    scorer = get_scorer("target_accuracy")
    request = get_routing_for_object(scorer)
    assert request.consumes("score", ["sample_domain", "sample_weight"]) == {"sample_domain"}
    scorer.set_score_request(sample_domain=False, sample_weight=True)
    request = get_routing_for_object(scorer)
    assert request.consumes("score", ["sample_domain", "sample_weight"]) == {"sample_weight"}
    with pytest.raises(ValueError, match="alias"):
        scorer.set_score_request(sample_weight="not an identifier!")
    # Importing the package never turns routing on.
    assert sklearn.get_config()["enable_metadata_routing"] is False


def test_pickle_and_clone():
    X, y, sample_domain = stacked_problem()
    for name in get_scorer_names():
        scorer = get_scorer(name)
        restored = pickle.loads(pickle.dumps(scorer))
        assert repr(restored) == repr(scorer)
        fitted = ColumnPredictor(1).fit(X, y)
        assert restored(fitted, X, y, sample_domain=sample_domain) == scorer(
            fitted, X, y, sample_domain=sample_domain)
    search = GridSearchCV(ColumnPredictor(), {"column": [0, 1]}, scoring=target_nmi_scorer)
    assert repr(clone(search).scoring) == repr(target_nmi_scorer)


# -- GridSearchCV -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_with_routing_scores_target_rows(n_jobs):
    X, y, sample_domain = stacked_problem()
    cv = KFold(n_splits=4)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(ColumnPredictor(), {"column": [0, 1]}, cv=cv, n_jobs=n_jobs,
                              scoring=get_scorer("target_cluster_accuracy"))
        search.fit(X, y, sample_domain=sample_domain)
    # Column 0 is perfect on target rows only, column 1 on source rows only.
    assert search.best_params_ == {"column": 0}
    np.testing.assert_allclose(search.cv_results_["mean_test_score"][0], 1.0)
    assert search.cv_results_["mean_test_score"][1] < 0.9
    assert search.best_estimator_.fit_saw_sample_domain_
    with sklearn.config_context(enable_metadata_routing=True):
        assert search.score(X, y, sample_domain=sample_domain) == 1.0


def test_grid_search_with_routing_sees_exactly_the_target_rows_of_each_fold():
    X, y, sample_domain = stacked_problem()
    seen = []

    def recording_accuracy(y_true, y_pred):
        seen.append(np.sort(y_true))
        return accuracy_score(y_true, y_pred)

    cv = KFold(n_splits=4)
    with sklearn.config_context(enable_metadata_routing=True):
        GridSearchCV(ColumnPredictor(), {"column": [0]}, cv=cv, refit=False,
                     scoring=make_target_scorer(recording_accuracy)).fit(
            X, y, sample_domain=sample_domain)
    expected = [np.sort(y[test][sample_domain[test] < 0]) for _, test in cv.split(X)]
    assert len(seen) == len(expected)
    for got, want in zip(seen, expected):
        np.testing.assert_array_equal(got, want)


def test_grid_search_with_routing_and_several_scorers():
    X, y, sample_domain = stacked_problem()
    scoring = {name: get_scorer(name) for name in ("target_nmi", "target_accuracy")}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(ColumnPredictor(), {"column": [0, 1]}, cv=KFold(3),
                              scoring=scoring, refit="target_nmi")
        search.fit(X, y, sample_domain=sample_domain)
    assert search.best_params_ == {"column": 0}
    for name in scoring:
        np.testing.assert_allclose(search.cv_results_[f"mean_test_{name}"][0], 1.0)


def test_grid_search_without_routing_uses_the_mask():
    X, y, sample_domain = stacked_problem()
    masked = np.where(sample_domain < 0, -1, y)
    search = GridSearchCV(ColumnPredictor(), {"column": [0, 1]}, cv=KFold(4),
                          scoring=get_scorer("target_accuracy"), n_jobs=1)
    # sample_domain goes to fit only; the scorer sees none and drops the -1 (target) rows.
    search.fit(X, masked, sample_domain=sample_domain)
    assert search.best_params_ == {"column": 1}
    np.testing.assert_allclose(search.cv_results_["mean_test_score"][1], 1.0)
    assert search.best_estimator_.fit_saw_sample_domain_
    assert search.score(X, masked) == 1.0
