import pickle

import numpy as np
import pytest
import torch

from skdomainclust import ACIDSClusterer
from skdomainclust._net import DomainBalancedIterator, DomainDataset
from skdomainclust.metrics import cluster_accuracy
from skdomainclust.nn.convnet import ConvNet
from skdomainclust.nn.dsbn import dsbn_layers
from skdomainclust.nn.neighbours import within_domain_neighbours
from skdomainclust.nn.sobel import SobelFilter

from ._cases import make_shifted_blobs


def _fast(**params):
    defaults = dict(n_clusters=4, hidden_dims=(64,), max_epochs=20, adapt_epochs=20,
                    batch_size=32, lr=3e-3, n_neighbors=5, random_state=0)
    return ACIDSClusterer(**{**defaults, **params})


@pytest.fixture(scope="module")
def blobs():
    """Four classes in two source domains (0, 1) and one shifted target (-1)."""
    return make_shifted_blobs(n_per_class=40, n_classes=4, n_features=8, n_sources=2, seed=0)


def test_fewer_than_two_source_domains_is_a_clear_error(blobs):
    X, y, sd = blobs
    one_source = sd <= 0
    with pytest.raises(ValueError, match="at least 2 source domains"):
        _fast().fit(X[one_source], sample_domain=sd[one_source])
    with pytest.raises(ValueError, match="at least 2 source domains"):
        _fast().fit(X)  # no sample_domain: every row is target


def test_bad_parameters_are_rejected(blobs):
    X, y, sd = blobs
    for params, match in [({"n_clusters": 1}, "n_clusters"), ({"ema_alpha": 1.0}, "ema_alpha"),
                          ({"pivot_threshold": 0.0}, "pivot_threshold"),
                          ({"n_clusters": 10_000}, "larger than the number of source rows"),
                          ({"views": "noise"}, "views")]:
        with pytest.raises((ValueError, TypeError), match=match):
            _fast(**params).fit(X, sample_domain=sd)


@pytest.mark.slow
def test_two_source_run_learns_and_adapt_improves_on_average(blobs):
    X, y, sd = blobs
    source, target = sd >= 0, sd < 0
    on_sources, before, after = [], [], []
    for seed in range(3):
        model = _fast(random_state=seed).fit(X[source], sample_domain=sd[source])
        on_sources.append(cluster_accuracy(y[source], model.labels_))
        before.append(cluster_accuracy(y[target], model.predict(X[target])))
        after.append(cluster_accuracy(y[target], model.adapt(X[target]).labels_))
    # Chance is 0.25 (four balanced classes); a merged pair of clusters scores 0.75.
    assert np.mean(on_sources) > 0.85
    assert np.mean(after) > 0.65
    assert np.mean(after) > np.mean(before)


def test_adapt_uses_the_target_alone_and_keeps_no_source_data(blobs):
    X, y, sd = blobs
    source, target = sd >= 0, sd < 0
    model = _fast(adapt_epochs=6).fit(X[source], sample_domain=sd[source])
    layers = dsbn_layers(model.net_.module_)
    n_sources = len(model.source_domains_)
    source_stats = [(layer.running_mean[:n_sources].clone(), layer.running_var[:n_sources].clone())
                    for layer in layers]
    X_target = X[target].copy()
    del X  # only the target rows exist from here on
    model.adapt(X_target)
    assert model.adapted_ and model.labels_.shape == (len(X_target),)
    assert model.net_.phase == "target"
    # The source batch-norm slots are never touched; the target slot holds target statistics.
    for layer, (mean, var) in zip(layers, source_stats):
        torch.testing.assert_close(layer.running_mean[:n_sources], mean)
        torch.testing.assert_close(layer.running_var[:n_sources], var)
    # Nothing with as many rows as the source data stays in the fitted model.
    n_source_rows = int(source.sum())
    held = [value for value in [*vars(model).values(), *vars(model.net_).values()]
            if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim >= 1]
    held += list(model.net_.module_.buffers())
    assert all(len(value) != n_source_rows for value in held)
    with pytest.raises(ValueError, match="target rows only"):
        model.adapt(X_target, sample_domain=0)


def test_target_statistics_come_from_the_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    sd = np.repeat([0, 1], 100)
    model = _fast(n_clusters=2, max_epochs=2, adapt_epochs=0).fit(X, sample_domain=sd)
    first = dsbn_layers(model.net_.module_)[0]
    slot = model.net_.module_.target_slot
    pooled = first.running_mean[slot].clone()
    model.adapt(rng.normal(size=(150, 5)) + 50.0)  # a far-away target
    assert not torch.allclose(first.running_mean[slot], pooled)
    assert first.num_batches_tracked[slot] > 0


def test_fit_with_target_rows_runs_both_phases(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=4, adapt_epochs=2).fit(X, y, sample_domain=sd)
    phases = [row["phase"] for row in model.net_.history]
    assert phases == ["source"] * 4 + ["target"] * 2
    assert model.labels_.shape == (len(X),)
    np.testing.assert_array_equal(model.labels_[sd < 0], model.predict(X[sd < 0]))
    np.testing.assert_array_equal(model.labels_, model.predict(X, sample_domain=sd))


def test_heads_alternate_and_best_subhead_has_lowest_head_b_loss(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=6, adapt_epochs=0, alternate_heads=True)
    model.fit(X[sd >= 0], sample_domain=sd[sd >= 0])
    history = model.net_.history
    assert [row["heads"] for row in history] == [[0], [1], [0], [1], [0], [1]]
    assert ["subhead_loss" in row for row in history] == [False, True] * 3
    last_b = history[-1]["subhead_loss"]
    assert len(last_b) == model.n_subheads
    assert model.best_subhead_ == int(np.argmin(last_b))
    np.testing.assert_allclose(model.subhead_losses_, last_b)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.predict(X))


def test_refit_without_a_head_b_epoch_does_not_keep_a_stale_subhead(blobs):
    X, y, sd = blobs
    source = sd >= 0
    model = _fast(max_epochs=2, adapt_epochs=0).fit(X[source], sample_domain=sd[source])
    model.best_subhead_ = 4  # as if an earlier fit had chosen the last of five subheads
    model.set_params(n_subheads=2, max_epochs=1, alternate_heads=True)  # head A only
    model.fit(X[source], sample_domain=sd[source])
    assert model.best_subhead_ == 0
    assert model.predict(X).shape == (len(X),)


def test_joint_heads_train_both_heads_every_epoch(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=3, adapt_epochs=0, alternate_heads=False)
    model.fit(X[sd >= 0], sample_domain=sd[sd >= 0])
    assert all(row["heads"] == [0, 1] and "subhead_loss" in row for row in model.net_.history)


def test_domain_term_warms_up_linearly():
    model = _fast(max_epochs=2, adapt_epochs=0, domain_weight=10.0, warmup_epochs=8)
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(80, 3)), sample_domain=np.repeat([0, 1], 40))
    net = model.net_
    net.phase = "source"
    lambdas = []
    for epoch in range(10):
        net.phase_start = len(net.history) - 1 - epoch
        lambdas.append(net.domain_lambda())
    np.testing.assert_allclose(lambdas, [10 * min(1, e / 8) for e in range(10)])
    net.phase = "target"
    assert net.domain_lambda() == 0.0


def test_unknown_source_domain_at_predict_is_an_error(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=2, adapt_epochs=0).fit(X[sd >= 0], sample_domain=sd[sd >= 0])
    with pytest.raises(ValueError, match="not seen in fit"):
        model.predict(X[:5], sample_domain=7)
    assert model.predict(X[:5], sample_domain=1).shape == (5,)


def test_pickle_after_adapt_and_reproducibility(blobs):
    X, y, sd = blobs
    first = _fast(max_epochs=4, adapt_epochs=2).fit(X, sample_domain=sd)
    second = _fast(max_epochs=4, adapt_epochs=2).fit(X, sample_domain=sd)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict(X, sd), first.predict(X, sd))
    restored.adapt(X[sd < 0])  # a restored model adapts too
    assert restored.labels_.shape == (int((sd < 0).sum()),)


def test_plain_iic_configuration_has_no_domain_specific_layers(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=2, adapt_epochs=0, domain_specific_bn=False, domain_weight=0.0)
    model.fit(X[sd >= 0], sample_domain=sd[sd >= 0])
    assert dsbn_layers(model.net_.module_) == []
    assert model.predict(X).shape == (len(X),)


def test_images_with_a_conv_trunk():
    rng = np.random.default_rng(0)
    X = rng.random((60, 1, 8, 8)).astype(np.float32)
    sd = np.repeat([0, 1, -1], 20)
    model = ACIDSClusterer(n_clusters=2, encoder=ConvNet(in_channels=1, widths=(4,),
                                                              out_features=8, image_size=8),
                           max_epochs=2, adapt_epochs=2, batch_size=8, n_neighbors=3,
                           random_state=0)
    model.fit(X, sample_domain=sd)
    assert model.labels_.shape == (60,)
    assert len(dsbn_layers(model.net_.module_)) == 2


def test_domain_balanced_batches():
    sd = np.r_[np.zeros(10), np.ones(30), np.full(5, 4)]
    dataset = DomainDataset({"X": np.arange(45, dtype=np.float32)[:, None], "sample_domain": sd})
    iterator = DomainBalancedIterator(dataset, batch_size=4)
    assert len(iterator) == int(np.mean([3, 8, 2]))
    torch.manual_seed(0)
    batches = list(iterator)
    assert len(batches) == len(iterator)
    for batch, _ in batches:
        counts = torch.bincount(batch["sample_domain"].long())
        assert counts[0] == counts[1] == counts[4] == 4
    seen = torch.cat([batch["index"][batch["sample_domain"] == 0] for batch, _ in batches])
    assert len(seen.unique()) == min(10, len(seen))  # a domain is visited without repeats


def test_domain_neighbours_stay_in_their_domain():
    X = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.05], [0.1, 1.0], [0.0, 0.9]])
    sd = torch.tensor([0, 0, 0, 1, 1, 1])
    table = within_domain_neighbours(X, sd, 1)
    assert table[:, 0].tolist() == [1, 0, 1, 4, 5, 4]
    assert (sd[table[:, 0]] == sd).all()


def test_the_progress_bar_names_the_phase(blobs, capsys):
    X, _, sample_domain = blobs
    sources = sample_domain >= 0
    model = _fast(max_epochs=1, adapt_epochs=1, verbose=1)
    model.fit(X[sources], sample_domain=sample_domain[sources])
    assert "ACIDS (sources)" in capsys.readouterr().err
    model.adapt(X[~sources])
    err = capsys.readouterr().err
    assert "ACIDS adapt (target, source-free)" in err and "(sources)" not in err


# -- the k-means start --------------------------------------------------------------------------


def test_kmeans_start_is_the_default_for_feature_vectors_only(blobs):
    from skdomainclust.nn.pca import PCAResidual

    X, y, sd = blobs
    source = sd >= 0
    model = _fast(max_epochs=1, adapt_epochs=0).fit(X[source], sample_domain=sd[source])
    assert model.kmeans_start_ and isinstance(model.net_.module_.trunk, PCAResidual)
    model = _fast(max_epochs=1, init="random").fit(X[source], sample_domain=sd[source])
    assert not model.kmeans_start_ and not isinstance(model.net_.module_.trunk, PCAResidual)
    images = np.random.default_rng(0).random((40, 1, 8, 8)).astype(np.float32)
    model = ACIDSClusterer(n_clusters=2, encoder=ConvNet(in_channels=1, widths=(4,),
                                                         out_features=8, image_size=8),
                           max_epochs=1, adapt_epochs=0, batch_size=8, n_neighbors=0,
                           random_state=0).fit(images, sample_domain=np.repeat([0, 1], 20))
    assert not model.kmeans_start_
    with pytest.raises(ValueError, match="init"):
        _fast(init="pca").fit(X[source], sample_domain=sd[source])


def _start_module(features, k, n_subheads=3):
    from skdomainclust.acids import ACIDSModule

    return ACIDSModule(torch.nn.Identity(), features.shape[1], [0, 1], (2 * k, k), n_subheads,
                       torch.nn.Identity(), torch.nn.Identity())


def test_heads_start_as_the_nearest_centre_rule_of_a_kmeans():
    """Every subhead's argmax is a k-means partition of the features (here the blobs
    themselves) and head A overclusters; on rows without clear clusters the start is
    confident without saturating the softmax (the temperature follows the clusters' spread)."""
    from sklearn.metrics import adjusted_rand_score

    y, features = _separated_blobs()
    module = _start_module(features, 4)
    module.start_heads_from_kmeans(features, seed=0)
    with torch.no_grad():
        assert module.head_probs(features, 0).shape == (3, len(features), 8)
        for subhead in module.head_probs(features, 1):
            assert adjusted_rand_score(y, subhead.argmax(1).numpy()) == 1.0
        blurred = torch.as_tensor(np.random.default_rng(1).normal(size=(200, 6)),
                                  dtype=torch.float32)
        module.start_heads_from_kmeans(blurred, seed=0)
        confidence = module.head_probs(blurred, 1).max(dim=-1).values
        assert 0.5 < float(confidence.mean()) < 0.9999


def test_the_target_recentring_keeps_each_cluster_id():
    """``init_probs`` re-centres each cluster on shifted rows starting from the current
    assignments: the ids do not permute (adapt is source-free, the clusters stay those of
    the sources)."""
    y, features = _separated_blobs()
    module = _start_module(features, 4)
    module.start_heads_from_kmeans(features, seed=0)
    with torch.no_grad():
        before = module.head_probs(features, 1).argmax(-1)
    shifted = features + 0.8  # a domain shift smaller than the gaps between the blobs
    module.start_heads_from_kmeans(shifted, seed=1, init_probs=True)
    after = module.head_probs(shifted, 1).argmax(-1)
    torch.testing.assert_close(after, before)
    # The centres moved with the shift: rows far out along it are still assigned the same way.
    torch.testing.assert_close(module.head_probs(features + 1.6, 1).argmax(-1), before)


def _separated_blobs():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 30)
    centres = 6.0 * np.eye(4, 6)
    features = torch.as_tensor(centres[y] + 0.5 * rng.normal(size=(120, 6)), dtype=torch.float32)
    return y, features


def test_images_with_the_default_trunk():
    """``encoder=None`` takes square images (a conv trunk sized from the input shape) and
    refuses other shapes with a pointer to ``encoder``."""
    rng = np.random.default_rng(0)
    sd = np.repeat([0, 1, -1], 20)
    for side, blocks in ((4, 1), (8, 2), (16, 3)):
        X = rng.random((60, 3, side, side)).astype(np.float32)
        model = ACIDSClusterer(n_clusters=2, max_epochs=1, adapt_epochs=1, batch_size=8,
                               n_neighbors=3, random_state=0).fit(X, sample_domain=sd)
        assert model.labels_.shape == (60,) and not model.kmeans_start_
        pools = [m for m in model.net_.module_.trunk.modules()
                 if isinstance(m, torch.nn.MaxPool2d)]
        assert len(pools) == blocks
        # The authors' input: grey Sobel gradients, so the conv net reads two channels.
        assert isinstance(model.net_.module_.trunk[0], SobelFilter)
        assert model.net_.module_.trunk[1].features[0].in_channels == 2
    with pytest.raises(ValueError, match="square images"):
        ACIDSClusterer(n_clusters=2, max_epochs=1).fit(
            rng.random((60, 1, 8, 6)).astype(np.float32), sample_domain=sd)
