"""Domain-aware splitters: every training and every test fold holds rows of every domain."""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdomainclust.metrics import get_scorer
from skdomainclust.model_selection import DomainKFold, DomainShuffleSplit

from ._cases import CASES

SPLITTERS = [DomainKFold(n_splits=3, random_state=0), DomainShuffleSplit(3, random_state=0)]


def _domains():
    # Sources stacked before the target, as users stack them: contiguous KFold folds would
    # hold no target row at all.
    return np.repeat([0, 1, -1], [30, 12, 9])


@pytest.mark.parametrize("splitter", SPLITTERS, ids=repr)
def test_every_fold_holds_every_domain(splitter):
    sd = _domains()
    X = np.zeros((len(sd), 2))
    folds = list(splitter.split(X, sample_domain=sd))
    assert len(folds) == splitter.get_n_splits() == 3
    for train, test in folds:
        assert set(sd[train]) == set(sd[test]) == {0, 1, -1}
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(sd)


def test_domain_k_fold_tests_every_row_once_in_proportion():
    sd = _domains()
    tests = [test for _, test in DomainKFold(3, random_state=1).split(np.zeros(len(sd)),
                                                                       sample_domain=sd)]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(len(sd)))
    for test in tests:
        assert np.bincount(sd[test] + 1).tolist() == [3, 10, 4]


@pytest.mark.parametrize("splitter", SPLITTERS, ids=repr)
def test_domains_come_from_groups_or_from_masked_labels(splitter):
    sd = _domains()
    X = np.zeros((len(sd), 2))
    y = np.where(sd < 0, -1, 0)
    by_sd = [test for _, test in splitter.split(X, sample_domain=np.where(sd < 0, -1, 0))]
    by_groups = [test for _, test in splitter.split(X, groups=np.where(sd < 0, -1, 0))]
    by_y = [test for _, test in splitter.split(X, y)]
    for a, b, c in zip(by_sd, by_groups, by_y):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="domain of every row"):
        next(splitter.split(X))


def test_too_small_domains_are_refused_with_a_reason():
    sd = np.repeat([0, -1], [10, 2])
    with pytest.raises(ValueError, match="only 2 rows"):
        next(DomainKFold(3).split(np.zeros(12), sample_domain=sd))
    with pytest.raises(ValueError, match="n_splits"):
        DomainKFold(1)
    with pytest.raises(ValueError, match="test_size"):
        DomainShuffleSplit(test_size=1.5)


def _scorer_for(estimator):
    name = "target_accuracy" if getattr(estimator, "_estimator_type", None) == "classifier" \
        else "target_cluster_accuracy"
    return get_scorer(name)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_routed_search_with_the_default_cv_order_scores_every_candidate(case):
    """The documented recipe, on data stacked sources-then-target: finite scores everywhere."""
    X, y, sd = case.data()
    order = np.argsort(-sd, kind="stable")  # every source row before every target row
    X, y, sd = X[order], y[order], sd[order]
    estimator = clone(case.estimator)
    grid = {f"{type(estimator).__name__.lower()}__lr": [estimator.lr, estimator.lr / 2]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(make_pipeline(StandardScaler(), estimator), grid,
                              scoring=_scorer_for(estimator), cv=DomainKFold(2, random_state=0))
        search.fit(X, y, sample_domain=sd)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_a_search_without_routing_takes_the_domains_as_groups():
    case = next(c for c in CASES if c.id == "SRDCAdapter")
    X, y, sd = case.data()
    masked = np.where(sd < 0, -1, y)
    search = GridSearchCV(clone(case.estimator), {"lr": [0.05, 0.02]},
                          scoring=get_scorer("target_accuracy"),
                          cv=DomainShuffleSplit(2, random_state=0))
    search.fit(X, masked, groups=np.where(sd < 0, -1, 0))
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
