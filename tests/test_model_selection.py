"""Domain-aware splitters: every training and every test fold holds rows of every domain."""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdomainclust.metrics import get_scorer
from skdomainclust.model_selection import DomainKFold, DomainShuffleSplit, SourceHoldOut

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


# -- SourceHoldOut: the transductive split of unsupervised adaptation --------------------------


def test_source_hold_out_keeps_every_target_row_in_both_folds():
    sd = _domains()
    X = np.zeros((len(sd), 2))
    splitter = SourceHoldOut(n_splits=3, test_size=0.25, random_state=0)
    folds = list(splitter.split(X, sample_domain=sd))
    assert len(folds) == splitter.get_n_splits() == 3
    target = np.flatnonzero(sd < 0)
    for train, test in folds:
        assert np.array_equal(np.intersect1d(train, target), target)
        assert np.array_equal(np.intersect1d(test, target), target)
        held = test[sd[test] >= 0]
        # A quarter of each source domain held out, never trained on, the rest trained on.
        assert np.bincount(sd[held]).tolist() == [8, 3]
        assert len(np.intersect1d(held, train)) == 0
        assert len(held) + np.sum(sd[train] >= 0) == np.sum(sd >= 0)
    # Reproducible with a seed, different between splits.
    again = list(SourceHoldOut(n_splits=3, test_size=0.25, random_state=0).split(
        X, sample_domain=sd))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    assert not np.array_equal(folds[0][1], folds[1][1])


def test_source_hold_out_refuses_what_it_cannot_split():
    X = np.zeros((6, 1))
    with pytest.raises(ValueError, match="target rows"):
        next(SourceHoldOut().split(X, sample_domain=np.zeros(6, int)))
    with pytest.raises(ValueError, match="two rows"):
        next(SourceHoldOut().split(X, sample_domain=np.r_[0, -np.ones(5, int)]))
    with pytest.raises(ValueError, match="test_size"):
        SourceHoldOut(test_size=1.0)
    with pytest.raises(ValueError, match="n_splits"):
        SourceHoldOut(n_splits=0)
    # Domains from masked labels, as the other splitters.
    train, test = next(SourceHoldOut(random_state=0).split(X, y=[0, 1, 0, 1, -1, -1]))
    assert {4, 5} <= set(train) and {4, 5} <= set(test)


# -- OneStandardErrorRule ------------------------------------------------------------------


def _results(values, means, stds=None, n_splits=1):
    results = {"params": [{"p": v} for v in values], "mean_test_s": np.asarray(means),
               "std_test_s": np.asarray(stds if stds is not None else np.zeros(len(means)))}
    for k in range(n_splits):
        results[f"split{k}_test_s"] = np.asarray(means)
    return results


def test_one_standard_error_rule_keeps_the_most_regularised_close_candidate():
    from skdomainclust.model_selection import OneStandardErrorRule

    # Binomial SE of the best (0.8, 100 rows): 0.04. 0.77 is within it, 0.75 is not.
    results = _results([0.0, 0.3, 0.5, 0.7], [0.80, 0.77, 0.75, 0.60])
    assert OneStandardErrorRule("s", "p", n_scored=100)(results) == 1
    assert OneStandardErrorRule("s", "p", n_scored=10_000)(results) == 0  # SE 0.004
    assert OneStandardErrorRule("s", "p", prefer="smaller", n_scored=100)(results) == 0
    # The candidates need not be sorted by the parameter.
    shuffled = _results([0.7, 0.0, 0.3], [0.60, 0.80, 0.79])
    assert OneStandardErrorRule("s", "p", n_scored=100)(shuffled) == 2
    # Without n_scored, the spread over splits: std / sqrt(n_splits) = 0.1 / 2.
    spread = _results([0.0, 0.5], [0.80, 0.76], stds=[0.1, 0.1], n_splits=4)
    assert OneStandardErrorRule("s", "p")(spread) == 1
    with pytest.raises(ValueError, match="n_scored"):
        OneStandardErrorRule("s", "p")(_results([0.0, 0.5], [0.8, 0.7]))
    with pytest.raises(ValueError, match="prefer"):
        OneStandardErrorRule("s", "p", prefer="bigger")
    assert "input_dropout" in repr(OneStandardErrorRule("s", "input_dropout"))


def test_one_standard_error_rule_refits_a_search_on_held_out_source_rows():
    from sklearn.linear_model import LogisticRegression

    from skdomainclust.model_selection import OneStandardErrorRule

    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 60)
    X = y[:, None] * 10.0 + rng.normal(size=(120, 2))
    sd = np.repeat([0, -1], [80, 40])
    masked = np.where(sd < 0, -1, y)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            LogisticRegression(), {"C": [1e-3, 1e-2, 1.0]},
            scoring={"acc": get_scorer("source_accuracy")},
            cv=SourceHoldOut(n_splits=3, random_state=0),
            refit=OneStandardErrorRule("acc", "C", prefer="smaller"))
        search.fit(X, masked, sample_domain=sd)
    # Every C separates these blobs alike: the strongest regularisation is kept.
    assert search.best_params_ == {"C": 1e-3}
    assert hasattr(search, "best_estimator_")
