"""GridSearchCV over a Pipeline on the real Office-Caltech10 SURF amazon -> webcam task.

Checks both ways of passing domains (routed ``sample_domain`` and ``y == -1`` inference) and
proves, by recording every call that trains a network, that no target row and no target label
ever reaches training.
"""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdomainclust import SourceOnlyClassifier
from skdomainclust import source_only as source_only_module
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.metrics import get_scorer

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration

GRID = {"sourceonlyclassifier__lr": [1e-3, 1e-2],
        "sourceonlyclassifier__hidden_dims": [(32,), (64,)]}


@pytest.fixture(scope="module")
def surf_a_to_w(data_home):
    data = load_office_caltech_surf(preprocessing="standard")
    return stack_domains(data, source="amazon", target="webcam")


@pytest.fixture
def training_calls(monkeypatch):
    """Record the (sample_domain, labels) of every batch set a network is trained on."""
    calls = []
    original_fit = source_only_module.DomainNet.fit

    def spying_fit(net, X, y=None, **kwargs):
        calls.append((np.asarray(X["sample_domain"]).copy(), np.asarray(y).copy()))
        return original_fit(net, X, y, **kwargs)

    monkeypatch.setattr(source_only_module.DomainNet, "fit", spying_fit)
    return calls


def _search():
    model = make_pipeline(StandardScaler(),
                          SourceOnlyClassifier(max_epochs=5, batch_size=64, random_state=0))
    return GridSearchCV(model, GRID, scoring=get_scorer("target_accuracy"),
                        cv=KFold(2, shuffle=True, random_state=0))


def _assert_only_source_reached_training(calls, y, sample_domain):
    n_source = int(np.sum(sample_domain >= 0))
    assert len(calls) == 2 * 4 + 1  # 2 folds x 4 candidates + the refit
    for domains, labels in calls:
        assert (domains >= 0).all(), "a target row reached training"
        assert len(labels) <= n_source
    # The refit trains on all source rows, with exactly the source labels (encoded).
    refit_domains, refit_labels = calls[-1]
    assert len(refit_labels) == n_source
    np.testing.assert_array_equal(np.bincount(refit_labels),
                                  np.bincount(y[sample_domain >= 0]))


def test_grid_search_with_routed_sample_domain(surf_a_to_w, training_calls):
    X, y, sample_domain = surf_a_to_w
    with sklearn.config_context(enable_metadata_routing=True):
        search = _search().fit(X, y, sample_domain=sample_domain)
        refit_score = search.score(X, y, sample_domain=sample_domain)
    _assert_only_source_reached_training(training_calls, y, sample_domain)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    # Scored on webcam rows only: well above chance (10 classes), far below source accuracy.
    assert 0.15 < search.best_score_ < 0.9
    target = sample_domain < 0
    assert refit_score == pytest.approx(
        np.mean(search.predict(X[target]) == y[target]))


def test_grid_search_with_masked_target_labels(surf_a_to_w, training_calls):
    X, y, sample_domain = surf_a_to_w
    masked = np.where(sample_domain < 0, -1, y)
    search = _search().fit(X, masked)
    _assert_only_source_reached_training(training_calls, y, sample_domain)
    # Without sample_domain the scorer scores the labelled (source) rows of each test fold.
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_score_ > 0.3


def test_target_labels_do_not_change_the_search(surf_a_to_w):
    """Poisoning every target label with an unseen class leaves the fitted model unchanged."""
    X, y, sample_domain = surf_a_to_w
    poisoned = np.where(sample_domain < 0, 77, y)
    model = SourceOnlyClassifier(max_epochs=3, random_state=0)
    clean = clone(model).fit(X, y, sample_domain=sample_domain)
    dirty = clone(model).fit(X, poisoned, sample_domain=sample_domain)
    assert 77 not in dirty.classes_
    np.testing.assert_array_equal(clean.predict_proba(X), dirty.predict_proba(X))
