"""XDCClusterer and link propagation (the shared suite runs through ``_cases.py``)."""

import pickle

import numpy as np
import pytest
import torch

from skdomainclust._propagation import pool_edge_scores, propagate_labels
from skdomainclust.xdc import XDCClusterer

from ._cases import make_shifted_blobs

# -- propagation -------------------------------------------------------------------------------


def _reference_propagation(edges, scores, n, max_size, step):
    """The reference algorithm with Python sets: BFS components under a rising threshold."""
    pooled = {}
    for (a, b), s in zip(edges, scores):
        key = (min(a, b), max(a, b))
        pooled.setdefault(key, []).append(s)
    pooled = {k: float(np.mean(v)) for k, v in pooled.items() if k[0] != k[1]}
    neighbours = {i: set() for i in range(n)}
    for a, b in pooled:
        neighbours[a].add(b)
        neighbours[b].add(a)
    th = min(pooled.values()) if pooled else 0.0
    remain, clusters = set(range(n)), []
    while remain:
        seen, next_remain = set(), set()
        for start in sorted(remain):
            if start in seen:
                continue
            group, queue = {start}, [start]
            while queue:
                node = queue.pop()
                for other in neighbours[node]:
                    key = (min(node, other), max(node, other))
                    if other in remain and other not in group and pooled[key] >= th:
                        group.add(other)
                        queue.append(other)
            seen |= group
            if len(group) <= max_size:
                clusters.append(group)
            else:
                next_remain |= group
        remain = next_remain
        th = th + (1 - th) * step
    return clusters


def _as_partition(labels):
    return sorted(sorted(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels))


def test_propagation_without_oversize_components_is_connected_components():
    edges = [[0, 1], [1, 2], [3, 4], [5, 6], [6, 5]]
    labels = propagate_labels(edges, [0.1, 0.2, 0.3, 0.9, 0.8], 8, max_size=10)
    assert labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 3]


def test_propagation_splits_oversize_components():
    # Two tight groups of 4 joined by one weak link: 8 nodes > max_size 5.
    edges = [[0, 1], [1, 2], [2, 3], [4, 5], [5, 6], [6, 7], [3, 4]]
    scores = [0.9, 0.95, 0.9, 0.9, 0.92, 0.97, 0.3]
    labels = propagate_labels(edges, scores, 8, max_size=5, step=0.6)
    assert _as_partition(labels) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert np.bincount(labels).max() <= 5


def test_propagation_keeps_raising_the_threshold_until_components_fit():
    # A chain whose scores rise towards the middle: every round cuts the weakest remaining links.
    n = 12
    edges = [[i, i + 1] for i in range(n - 1)]
    scores = [0.5 + 0.49 * (1 - abs(i - 5) / 6) for i in range(n - 1)]
    for max_size in (1, 2, 3, 5, 8):
        labels = propagate_labels(edges, scores, n, max_size=max_size, step=0.3)
        assert np.bincount(labels).max() <= max_size
        ref = _reference_propagation(edges, scores, n, max_size, 0.3)
        assert _as_partition(labels) == sorted(sorted(g) for g in ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_propagation_matches_the_reference_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n, k = 60, 4
    edges = np.stack([np.repeat(np.arange(n), k), rng.integers(0, n, n * k)], axis=1)
    scores = rng.random(n * k)
    for max_size in (3, 10, 25):
        labels = propagate_labels(edges, scores, n, max_size=max_size, step=0.5)
        ref = _reference_propagation(edges.tolist(), scores.tolist(), n, max_size, 0.5)
        assert _as_partition(labels) == sorted(sorted(g) for g in ref)


def test_propagation_with_saturated_scores_still_terminates():
    edges = [[i, i + 1] for i in range(19)]
    labels = propagate_labels(edges, np.ones(19), 20, max_size=6)
    sizes = np.bincount(labels)
    assert sizes.max() <= 6 and sizes.sum() == 20


def test_propagation_start_threshold_cuts_weak_links_first():
    edges = [[0, 1], [1, 2]]
    assert propagate_labels(edges, [0.9, 0.2], 3, max_size=10).tolist() == [0, 0, 0]
    assert propagate_labels(edges, [0.9, 0.2], 3, max_size=10,
                            start_threshold=0.5).tolist() == [0, 0, 1]


def test_pool_edge_scores_averages_both_directions():
    edges, scores = pool_edge_scores([[2, 1], [1, 2], [0, 3], [3, 3]], [0.2, 0.6, 0.5, 1.0])
    assert edges.tolist() == [[0, 3], [1, 2]]
    np.testing.assert_allclose(scores, [0.5, 0.4])
    _, high = pool_edge_scores([[2, 1], [1, 2]], [0.2, 0.6], pool="max")
    np.testing.assert_allclose(high, [0.6])


def test_propagation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_size"):
        propagate_labels([[0, 1]], [0.5], 2, max_size=0)
    with pytest.raises(ValueError, match="step"):
        propagate_labels([[0, 1]], [0.5], 2, step=0.0)
    with pytest.raises(ValueError, match="edge ids"):
        propagate_labels([[0, 5]], [0.5], 2)
    with pytest.raises(ValueError, match="pool"):
        pool_edge_scores([[0, 1]], [0.5], pool="sum")


def test_propagation_scales_to_many_points():
    """Well under a second per 10^4 points: the 10^5-point check lives in benchmarks."""
    import time

    rng = np.random.default_rng(0)
    n, k = 20_000, 10
    groups = rng.integers(0, 200, n)
    order = np.argsort(groups, kind="stable")
    src = np.repeat(np.arange(n), k)
    dst = order[np.clip(np.searchsorted(groups[order], groups[src])
                        + rng.integers(0, 60, n * k), 0, n - 1)]
    scores = np.where(groups[src] == groups[dst], 0.9, 0.1) + 0.05 * rng.random(n * k)
    start = time.perf_counter()
    labels = propagate_labels(np.stack([src, dst], 1), scores, n, max_size=300)
    assert time.perf_counter() - start < 10
    assert np.bincount(labels).max() <= 300


# -- the estimator -----------------------------------------------------------------------------


def _fast(**kwargs):
    params = dict(hidden_dims=(16,), embedding_dim=8, gcn_dims=(16, 8), domain_hidden_dims=(16,),
                  max_epochs=3, batch_size=16, random_state=0)
    params.update(kwargs)
    return XDCClusterer(**params)


@pytest.fixture(scope="module")
def blobs():
    return make_shifted_blobs(n_per_class=20, n_classes=4)


def test_labels_cover_target_rows_only(blobs):
    X, y, sd = blobs
    model = _fast().fit(X, y, sample_domain=sd)
    assert model.labels_.shape == (len(X),)
    assert (model.labels_[sd >= 0] == -1).all()
    target = model.labels_[sd < 0]
    assert target.min() == 0 and target.max() == model.n_clusters_ - 1
    np.testing.assert_array_equal(np.unique(target), np.arange(model.n_clusters_))
    assert model.fit_predict(X, y, sample_domain=sd).tolist() == model.labels_.tolist()


def test_max_cluster_size_is_respected(blobs):
    X, y, sd = blobs
    for size in (5, 0.1):
        model = _fast(max_cluster_size=size).fit(X, y, sample_domain=sd)
        limit = size if isinstance(size, int) else max(int(np.ceil(size * 80)), 11)
        assert np.bincount(model.labels_[sd < 0]).max() <= limit


def test_predict_assigns_new_rows_to_fitted_clusters(blobs):
    X, y, sd = blobs
    model = _fast().fit(X, y, sample_domain=sd)
    X_new, _, sd_new = make_shifted_blobs(n_per_class=5, n_classes=4, seed=0)
    labels = model.predict(X_new[sd_new < 0])
    assert labels.shape == (20,)
    assert set(labels.tolist()) <= set(range(model.n_clusters_))
    # Row by row and in one batch give the same labels.
    single = np.concatenate([model.predict(X_new[sd_new < 0][i:i + 1]) for i in range(20)])
    np.testing.assert_array_equal(single, labels)


def test_transform_is_the_unit_norm_embedding_the_graphs_use(blobs):
    X, y, sd = blobs
    model = _fast().fit(X, y, sample_domain=sd)
    embedding = model.transform(X)
    assert embedding.shape == (len(X), 8) and embedding.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.transform(X[:5]), embedding[:5], rtol=1e-5, atol=1e-6)


def test_plain_linkage_gcn_never_looks_at_the_target(blobs):
    X, y, sd = blobs
    other = X.copy()
    other[sd < 0] = np.random.default_rng(5).normal(size=other[sd < 0].shape)
    a = _fast(adversarial=False).fit(X, y, sample_domain=sd)
    b = _fast(adversarial=False).fit(other, y, sample_domain=sd)
    for (name, p), (_, q) in zip(a.net_.module_.state_dict().items(),
                                 b.net_.module_.state_dict().items()):
        torch.testing.assert_close(p, q, msg=name)
    assert a.net_.module_.domain_classifier is None


def test_adversarial_training_uses_the_target(blobs):
    X, y, sd = blobs
    other = X.copy()
    other[sd < 0] += 3.0
    a = _fast().fit(X, y, sample_domain=sd)
    b = _fast().fit(other, y, sample_domain=sd)
    assert not torch.equal(a.net_.module_.projection.weight, b.net_.module_.projection.weight)


@pytest.mark.parametrize("align, width", [("links", 8), ("features", 8 + 100)])
def test_the_domain_classifier_reads_what_is_aligned(blobs, align, width):
    X, y, sd = blobs
    # gcn_dims[-1] = 8 link embeddings, or embedding_dim = 108 features.
    model = _fast(align=align, embedding_dim=108).fit(X, y, sample_domain=sd)
    first = next(m for m in model.net_.module_.domain_classifier.modules()
                 if isinstance(m, torch.nn.Linear))
    assert first.in_features == width


def test_link_alignment_trains_the_gcn_on_target_subgraphs(blobs):
    X, y, sd = blobs
    other = X.copy()
    other[sd < 0] += 3.0
    a = _fast(align="links").fit(X, y, sample_domain=sd)
    b = _fast(align="links").fit(other, y, sample_domain=sd)
    # The target reaches the GCN itself (its batch-norm statistics and weights), not only
    # the encoder.
    gcn_a, gcn_b = a.net_.module_.gcn, b.net_.module_.gcn
    assert not torch.equal(gcn_a.input_norm.running_mean, gcn_b.input_norm.running_mean)
    assert not torch.equal(gcn_a.layers[0].linear.weight, gcn_b.layers[0].linear.weight)


def test_source_and_target_classes_need_not_overlap():
    X, y, sd = make_shifted_blobs(n_per_class=20, n_classes=6)
    source = (sd >= 0) & (y < 3)
    target = (sd < 0) & (y >= 3)
    rows = source | target
    model = _fast().fit(X[rows], y[rows], sample_domain=sd[rows])
    assert model.n_clusters_ >= 1


def test_tiny_inputs_clamp_the_neighbourhoods():
    X, y, sd = make_shifted_blobs(n_per_class=2, n_classes=2)  # 4 source, 4 target rows
    model = _fast(k1=10, k2=10, u=10, batch_size=2).fit(X, y, sample_domain=sd)
    assert model.labels_.shape == (8,)
    assert model.predict(X).shape == (8,)


def test_pickled_model_keeps_no_training_data(blobs):
    X, y, sd = blobs
    model = _fast().fit(X, y, sample_domain=sd)
    assert model.net_.graph_state_ is None
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.parametrize("params, match", [
    ({"k1": 0}, "k1"),
    ({"u": 2.5}, "u"),
    ({"max_cluster_size": 0}, "max_cluster_size"),
    ({"max_cluster_size": 1.5}, "max_cluster_size"),
    ({"threshold_step": 0.0}, "threshold_step"),
    ({"pivots_per_epoch": 0}, "pivots_per_epoch"),
    ({"align": "nodes"}, "align"),
])
def test_bad_parameters_are_rejected(blobs, params, match):
    X, y, sd = blobs
    with pytest.raises(ValueError, match=match):
        _fast(**params).fit(X, y, sample_domain=sd)


def test_image_input_with_a_conv_encoder():
    from torch import nn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
    y = np.repeat(np.arange(4), 10)
    sd = np.where(np.arange(40) % 2, -1, 0)
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten())
    model = _fast(encoder=encoder).fit(X, y, sample_domain=sd)
    assert model.predict(X[:5]).shape == (5,)


def test_clusters_unseen_target_classes_well_above_chance():
    """Source classes 0-2, target classes 3-5: the learnt links carry over to new classes."""
    from skdomainclust.metrics import pairwise_precision_recall_f1

    X, y, sd = make_shifted_blobs(n_per_class=20, n_classes=6, seed=1)
    rows = ((sd >= 0) & (y < 3)) | ((sd < 0) & (y >= 3))
    X, y, sd = X[rows], y[rows], sd[rows]
    masked = np.where(sd < 0, -1, y)
    # Clusters of 20: the default limit (a fifth of the 60 target rows) would split them.
    a = _fast(max_epochs=6, max_cluster_size=30).fit(X, masked, sample_domain=sd)
    b = _fast(max_epochs=6, max_cluster_size=30).fit(X, masked, sample_domain=sd)
    np.testing.assert_array_equal(a.labels_, b.labels_)  # equal seeds, equal clusters
    target = sd < 0
    # One cluster scores F1 0.49 (precision 0.32), random labels about 0.33.
    precision, _, f1 = pairwise_precision_recall_f1(y[target], a.labels_[target])
    assert precision > 0.9 and f1 > 0.6
    losses = a.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predict_on_the_fitted_target_rows_equals_labels_(seed):
    X, y, sd = make_shifted_blobs(n_per_class=30, n_classes=4, seed=seed)
    model = _fast(random_state=seed).fit(X, y, sample_domain=sd)
    target = sd < 0
    np.testing.assert_array_equal(model.predict(X[target]), model.labels_[target])
    # New rows still go through the link vote (they coincide with no fitted row).
    assert model.predict(X[target] + 0.05).shape == (int(target.sum()),)


# -- where the embedding starts ----------------------------------------------------------------


def _linear(**kwargs):
    """The default linear encoder (no hidden block): the case ``projection_init`` acts on."""
    return _fast(hidden_dims=(), **kwargs)


def test_pca_start_is_the_principal_axes_of_the_fit_rows(blobs):
    from sklearn.decomposition import PCA

    X, y, sd = blobs
    # A learning rate this small leaves the start where it was.
    model = _linear(projection_init="pca", embedding_dim=4, lr=1e-12).fit(X, y, sample_domain=sd)
    assert model.projection_init_ == "pca"
    weight = model.net_.module_.projection.weight.detach().double().numpy()
    axes = PCA(4).fit(X).components_
    # Each row of the weight is one principal axis (up to its sign), in order.
    signs = np.sum(weight * axes, axis=1)
    np.testing.assert_allclose(np.abs(signs), 1.0, atol=1e-4)
    # The embedding is the unit-norm projection of the centred rows on those axes.
    expected = (X - X.mean(axis=0)) @ (axes * np.sign(signs)[:, None]).T
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(model.transform(X), expected, atol=1e-4)


def test_auto_starts_from_the_pca_where_the_input_neighbourhoods_hold_the_source_labels(blobs):
    X, y, sd = blobs
    model = _linear().fit(X, y, sample_domain=sd)
    assert model.projection_init_ == "pca"
    assert model.source_input_precision_ > 0.9  # well-separated blobs


def test_auto_starts_at_random_where_they_do_not(blobs):
    """Source labels drawn at random (12 classes): neighbours share a label by chance only, the
    input's geometry carries nothing to keep, and the fit is the one ``"random"`` gives."""
    X, y, sd = blobs
    noise = np.where(sd >= 0, np.random.default_rng(0).integers(0, 12, len(y)), y)
    auto = _linear().fit(X, noise, sample_domain=sd)
    assert auto.projection_init_ == "random"
    assert auto.source_input_precision_ < 0.25
    plain = _linear(projection_init="random").fit(X, noise, sample_domain=sd)
    assert plain.source_input_precision_ is None
    for (name, p), (_, q) in zip(auto.net_.module_.state_dict().items(),
                                 plain.net_.module_.state_dict().items()):
        torch.testing.assert_close(p, q, msg=name)
    np.testing.assert_array_equal(auto.labels_, plain.labels_)


def test_auto_starts_at_random_behind_a_hidden_encoder(blobs):
    X, y, sd = blobs
    model = _fast().fit(X, y, sample_domain=sd)  # hidden_dims=(16,)
    assert model.projection_init_ == "random" and model.source_input_precision_ is None


def test_pca_start_needs_the_default_linear_encoder(blobs):
    X, y, sd = blobs
    with pytest.raises(ValueError, match="projection_init='pca'"):
        _fast(projection_init="pca").fit(X, y, sample_domain=sd)
