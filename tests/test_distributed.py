"""A grid search farmed out to a Dask cluster through joblib's dask backend."""

import numpy as np
import pytest
import sklearn
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, KFold

from skdomainclust import SourceOnlyClassifier
from skdomainclust.metrics import get_scorer

from ._cases import make_shifted_blobs

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # Worker processes, as on a real cluster: estimators and data travel pickled.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        client.run(_one_torch_thread)
        yield client


def _one_torch_thread():
    import torch

    torch.set_num_threads(1)


def test_grid_search_runs_on_dask_workers_with_routed_sample_domain(client):
    X, y, sample_domain = make_shifted_blobs(n_per_class=20, shift=0.5, seed=3)
    grid = {"lr": [1e-3, 1e-2], "hidden_dims": [(16,), (32,)]}
    search = GridSearchCV(SourceOnlyClassifier(max_epochs=5, random_state=0), grid,
                          scoring=get_scorer("target_accuracy"),
                          cv=KFold(2, shuffle=True, random_state=0), n_jobs=-1)
    with sklearn.config_context(enable_metadata_routing=True), \
            distributed.get_task_stream(client) as stream, parallel_backend("dask"):
        search.fit(X, y, sample_domain=sample_domain)
    # 4 candidates x 2 folds, each fit and scored on a worker process.
    assert len(stream.data) >= 8
    assert {task["worker"] for task in stream.data} <= set(client.scheduler_info()["workers"])
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()

    # The same search without the cluster gives the same scores: the backend changes where
    # fits run, not what they compute.
    with sklearn.config_context(enable_metadata_routing=True):
        local = GridSearchCV(search.estimator, grid, scoring=get_scorer("target_accuracy"),
                             cv=KFold(2, shuffle=True, random_state=0))
        local.fit(X, y, sample_domain=sample_domain)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_
