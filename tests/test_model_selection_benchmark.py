"""The label-free model selection benchmark: a real search, and how picks are summarised."""

import numpy as np
import pytest

model_selection = pytest.importorskip("benchmarks.model_selection")

from ._cases import make_shifted_blobs  # noqa: E402

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration


def test_search_scores_every_candidate_with_every_scorer():
    X, y, sample_domain = make_shifted_blobs(n_per_class=15, shift=0.5, seed=4)
    search = model_selection.Search(
        lambda seed: model_selection._source_only(seed).set_params(max_epochs=5),
        {"lr": [1e-4, 1e-2]}, "target_accuracy")
    rows = model_selection.search_one(search, X, y, sample_domain, seed=0)
    assert [params for params, _ in rows] == [{"lr": 1e-4}, {"lr": 1e-2}]
    for _, scores in rows:
        assert set(scores) == {"oracle", *model_selection.LABEL_FREE}
        assert 0.0 <= scores["oracle"] <= 1.0 and np.isfinite(list(scores.values())).all()


def test_summary_reports_the_oracle_score_of_each_pick():
    rows = {
        "t1": [({"a": 1}, {"oracle": 0.5, "unsupervised_entropy": -1.0,
                           "unsupervised_snd": 2.0, "unsupervised_kmeans_agreement": np.nan}),
               ({"a": 2}, {"oracle": 0.7, "unsupervised_entropy": -0.5,
                           "unsupervised_snd": 1.0, "unsupervised_kmeans_agreement": np.nan})],
        "t2": [({"a": 1}, {"oracle": 0.9, "unsupervised_entropy": -0.1,
                           "unsupervised_snd": 0.0, "unsupervised_kmeans_agreement": np.nan}),
               ({"a": 2}, {"oracle": 0.3, "unsupervised_entropy": -0.2,
                           "unsupervised_snd": 5.0, "unsupervised_kmeans_agreement": np.nan})],
    }
    summary = model_selection.summarise(rows)
    assert summary["oracle"] == {"mean_oracle_of_pick": pytest.approx(80.0),
                                 "tasks_matching_oracle": 2}
    assert summary["unsupervised_entropy"] == {"mean_oracle_of_pick": pytest.approx(80.0),
                                               "tasks_matching_oracle": 2}
    assert summary["unsupervised_snd"] == {"mean_oracle_of_pick": pytest.approx(40.0),
                                           "tasks_matching_oracle": 0}
    assert summary["unsupervised_kmeans_agreement"] is None  # no scores: "n/a"
    assert summary["mean candidate"]["mean_oracle_of_pick"] == pytest.approx(60.0)
