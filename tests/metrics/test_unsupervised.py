"""Label-free model selection scores: values against slow references, row selection, search."""

import numpy as np
import pytest
import sklearn
from scipy.stats import entropy
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold

from skdomainclust.metrics import (
    UnsupervisedScorer,
    batch_nuclear_norm,
    class_ami,
    get_scorer,
    kmeans_agreement,
    prediction_entropy,
    soft_neighborhood_density,
)

from ._spy import RowSpy


def _random_proba(rng, n, k):
    return rng.dirichlet(np.ones(k) * 0.3, size=n)


def test_prediction_entropy_equals_scipy_row_mean():
    proba = _random_proba(np.random.default_rng(0), 50, 4)
    proba[0] = [1.0, 0.0, 0.0, 0.0]  # a zero entry contributes nothing, without a warning
    expected = np.mean([entropy(row) for row in proba])
    assert prediction_entropy(proba) == pytest.approx(expected, abs=1e-12)


def _snd_loop(proba, temperature):
    unit = proba / np.linalg.norm(proba, axis=1, keepdims=True)
    values = []
    for i in range(len(unit)):
        others = [j for j in range(len(unit)) if j != i]
        logits = np.array([unit[i] @ unit[j] for j in others]) / temperature
        weights = np.exp(logits - logits.max())
        values.append(entropy(weights / weights.sum()))
    return float(np.mean(values))


@pytest.mark.parametrize("chunk_size", [1, 7, 2048])
def test_snd_equals_loop_reference_in_any_chunking(chunk_size):
    proba = _random_proba(np.random.default_rng(1), 40, 3)
    assert soft_neighborhood_density(proba, temperature=0.05, chunk_size=chunk_size) == \
        pytest.approx(_snd_loop(proba, 0.05), abs=1e-9)


def test_snd_rejects_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        soft_neighborhood_density(np.eye(3), temperature=0)
    with pytest.raises(ValueError, match="at least two"):
        soft_neighborhood_density(np.ones((1, 3)))
    with pytest.raises(ValueError, match="shape"):
        soft_neighborhood_density(np.ones(3))


def test_kmeans_agreement_rewards_labels_that_follow_the_embedding():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    truth = np.repeat(np.arange(3), 30)
    embedding = centres[truth] + rng.normal(size=(90, 2))
    assert kmeans_agreement(embedding, truth) == pytest.approx(1.0)
    assert kmeans_agreement(embedding, rng.permutation(truth)) < 0.2
    assert kmeans_agreement(np.zeros((10, 2)), np.arange(10) % 2) == 0.0
    with pytest.raises(ValueError, match="shape"):
        kmeans_agreement(embedding, truth[:-1])


def test_batch_nuclear_norm_equals_the_sum_of_singular_values_per_row():
    proba = _random_proba(np.random.default_rng(1), 40, 5)
    # Slow reference: singular values as square roots of the eigenvalues of P^T P.
    eigenvalues = np.clip(np.linalg.eigvalsh(proba.T @ proba), 0, None)
    assert batch_nuclear_norm(proba) == pytest.approx(np.sqrt(eigenvalues).sum() / 40)
    # Confident and spread over every class beats confident on one class and unsure rows.
    spread = np.eye(5)[np.arange(40) % 5]
    collapsed = np.eye(5)[np.zeros(40, int)]
    unsure = np.full((40, 5), 0.2)
    assert batch_nuclear_norm(spread) > batch_nuclear_norm(collapsed)
    assert batch_nuclear_norm(spread) > batch_nuclear_norm(unsure)
    with pytest.raises(ValueError, match="shape"):
        batch_nuclear_norm(np.ones(3))


def test_class_ami_is_chance_corrected_and_uses_one_cluster_per_class():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    truth = np.repeat(np.arange(3), 30)
    embedding = centres[truth] + rng.normal(size=(90, 2))
    assert class_ami(embedding, truth, 3) == pytest.approx(1.0)
    assert abs(class_ami(embedding, rng.permutation(truth), 3)) < 0.05  # chance: about 0
    # Merging two groups into one label loses against k-means with three clusters, where
    # kmeans_agreement (k-means with as many clusters as labels used) would not notice.
    merged = np.minimum(truth, 1)
    assert class_ami(embedding, merged, 3) < 0.8
    with pytest.raises(ValueError, match="shape"):
        class_ami(embedding, truth[:-1], 3)


def _two_domain_data():
    rng = np.random.default_rng(3)
    y = np.tile([0, 1], 20)
    X = (y[:, None] * 3.0 + rng.normal(size=(40, 2)))
    sample_domain = np.r_[np.zeros(20, int), -np.ones(20, int)]
    X[20:, 0] += 100.0  # target rows are recognisable by their first feature
    return X, y, sample_domain


@pytest.mark.parametrize("name", ["unsupervised_entropy", "unsupervised_snd",
                                  "unsupervised_kmeans_agreement", "unsupervised_bnm",
                                  "unsupervised_class_ami"])
def test_scorers_see_only_target_rows(name):
    X, y, sample_domain = _two_domain_data()
    spy = RowSpy().fit(X, y)
    score = get_scorer(name)(spy, X, y, sample_domain=sample_domain)
    assert np.isfinite(score)
    assert spy.seen_ and all(len(rows) == 20 and (rows[:, 0] > 50).all() for rows in spy.seen_)

    # Without sample_domain: the rows labelled -1 are the target, y's other labels unused.
    spy.seen_.clear()
    masked = np.where(sample_domain < 0, -1, y)
    assert get_scorer(name)(spy, X, masked) == pytest.approx(score)
    assert all((rows[:, 0] > 50).all() for rows in spy.seen_)


def test_scorer_needs_no_labels_and_says_when_there_is_no_target():
    X, y, sample_domain = _two_domain_data()
    spy = RowSpy().fit(X, y)
    scorer = get_scorer("unsupervised_entropy")
    assert scorer(spy, X) == pytest.approx(-prediction_entropy(spy.predict_proba(X)))
    with pytest.raises(ValueError, match="no target row"):
        scorer(spy, X, sample_domain=np.zeros(40, int))
    assert isinstance(scorer, UnsupervisedScorer)
    assert "entropy" in repr(scorer)


def test_grid_search_with_routed_sample_domain_picks_by_the_label_free_score():
    # Only the scorer requests sample_domain; it scores the target rows of each test fold.
    X, y, sample_domain = _two_domain_data()
    searched = {"C": [1e-4, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(LogisticRegression(), searched,
                              scoring=get_scorer("unsupervised_entropy"),
                              cv=KFold(2, shuffle=True, random_state=0))
        search.fit(X, y, sample_domain=sample_domain)
    # Strong regularisation keeps probabilities near 0.5 (high entropy): the score prefers C=1.
    assert search.best_params_ == {"C": 1.0}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0]
