"""Scores of held-out source rows: values against slow references, which rows and labels each
scorer reads, and a search that picks by them."""

import numpy as np
import pytest
import sklearn
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skdomainclust.exceptions import DomainInferenceWarning
from skdomainclust.metrics import (
    SourceScorer,
    deep_embedded_validation_risk,
    density_ratio,
    get_scorer,
    importance_weighted_score,
    make_source_scorer,
)
from skdomainclust.model_selection import SourceHoldOut

from ._spy import RowSpy

SOURCE_SCORERS = ("source_accuracy", "source_iwv_accuracy", "source_dev")


def test_density_ratio_follows_the_true_ratio_of_two_gaussians():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(400, 1))
    target = rng.normal(loc=1.0, size=(400, 1))
    weights = density_ratio(source, target)
    # N(1, 1) / N(0, 1) = exp(x - 1/2): increasing in x, about one on average over the source.
    truth = np.exp(source[:, 0] - 0.5)
    assert spearmanr(weights, truth).statistic > 0.95
    assert weights.mean() == pytest.approx(truth.mean(), rel=0.3)
    # Alike domains: weights near one.
    alike = density_ratio(source, rng.normal(size=(400, 1)))
    assert np.median(np.abs(alike - 1)) < 0.2
    with pytest.raises(ValueError, match="columns"):
        density_ratio(source, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="two source"):
        density_ratio(source[:1], target)


def test_importance_weighted_score_and_dev_equal_loop_references():
    rng = np.random.default_rng(1)
    losses, weights = rng.exponential(size=30), rng.exponential(size=30)
    total = sum(w * v for w, v in zip(weights, losses))
    assert importance_weighted_score(losses, weights) == pytest.approx(total / weights.sum())
    # DEV: mean(w l) + eta mean(w) - eta, eta = -cov(w l, w) / var(w), with (n - 1) moments.
    wl = [w * v for w, v in zip(weights, losses)]
    mean_wl, mean_w = sum(wl) / 30, sum(weights) / 30
    cov = sum((a - mean_wl) * (b - mean_w) for a, b in zip(wl, weights)) / 29
    var = sum((b - mean_w) ** 2 for b in weights) / 29
    eta = -cov / var
    assert deep_embedded_validation_risk(losses, weights) == pytest.approx(
        mean_wl + eta * mean_w - eta)
    # Constant weights: no variance to remove, the plain weighted mean.
    assert deep_embedded_validation_risk(losses, np.full(30, 0.5)) == pytest.approx(
        0.5 * losses.mean())
    with pytest.raises(ValueError, match="non-negative"):
        importance_weighted_score([1.0], [-1.0])
    with pytest.raises(ValueError, match="same length"):
        deep_embedded_validation_risk([1.0, 2.0], [1.0])


def _shifted():
    rng = np.random.default_rng(3)
    y = np.tile([0, 1, 2], 30)
    X = np.eye(3)[y] * 3.0 + rng.normal(size=(90, 3))
    sample_domain = np.repeat([0, -1], [60, 30])
    X[60:] += 0.5
    return X, y, sample_domain


@pytest.mark.parametrize("name", SOURCE_SCORERS)
def test_source_scorers_never_read_target_labels(name):
    X, y, sample_domain = _shifted()
    spy = RowSpy().fit(X[:40], y[:40])
    scorer = get_scorer(name)
    score = scorer(spy, X, y, sample_domain=sample_domain)
    assert np.isfinite(score)
    # Any target labels give the same score: masked, shuffled or nonsense.
    for target_labels in (np.full(30, -1), y[60:][::-1], np.full(30, 7)):
        relabelled = np.r_[y[:60], target_labels]
        assert scorer(spy, X, relabelled, sample_domain=sample_domain) == pytest.approx(score)
    # Without sample_domain, the rows labelled -1 are the target.
    masked = np.where(sample_domain < 0, -1, y)
    assert scorer(spy, X, masked) == pytest.approx(score)
    # The estimator saw source rows and (as features, for the density ratio) target rows.
    assert all(len(rows) in (60, 30) for rows in spy.seen_)


def test_source_accuracy_scores_the_source_rows_only():
    X, y, sample_domain = _shifted()
    spy = RowSpy().fit(X, y)
    expected = np.mean(spy.predict(X[:60]) == y[:60])
    assert get_scorer("source_accuracy")(spy, X, y, sample_domain=sample_domain) == \
        pytest.approx(expected)
    assert isinstance(make_source_scorer(np.mean), SourceScorer)
    # No sample_domain and no -1 label: nothing tells the target apart, and the scorer says so.
    with pytest.warns(DomainInferenceWarning, match="no sample_domain"):
        get_scorer("source_accuracy")(spy, X, y)
    with pytest.raises(ValueError, match="No labelled source rows"):
        get_scorer("source_accuracy")(spy, X, np.full(90, -1), sample_domain=sample_domain)


def test_iwv_weights_source_rows_that_look_like_the_target():
    # Two source clusters; the target sits on the second. A model right only on the first
    # has full plain source accuracy there, but IWV (like the target) scores it low.
    rng = np.random.default_rng(4)
    X = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(6, 1, (100, 2)),
              rng.normal(6, 1, (100, 2))]
    y = np.r_[np.zeros(100, int), np.ones(100, int), np.ones(100, int)]
    sample_domain = np.repeat([0, 0, -1], 100)

    class Constant(RowSpy):
        def predict(self, X):
            return np.zeros(len(X), int)

    model = Constant().fit(X[:200], y[:200])
    plain = get_scorer("source_accuracy")(model, X, y, sample_domain=sample_domain)
    weighted = get_scorer("source_iwv_accuracy")(model, X, y, sample_domain=sample_domain)
    assert plain == pytest.approx(0.5)
    assert weighted < 0.1


def test_a_search_on_a_source_hold_out_picks_by_held_out_source_rows():
    X, y, sample_domain = _shifted()
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(LogisticRegression(), {"C": [1e-5, 1.0]},
                              scoring=get_scorer("source_accuracy"),
                              cv=SourceHoldOut(test_size=0.25, random_state=0))
        search.fit(X, np.where(sample_domain < 0, -1, y), sample_domain=sample_domain)
    assert search.best_params_ == {"C": 1.0}
