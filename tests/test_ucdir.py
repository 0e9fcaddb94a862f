import math
import pickle

import numpy as np
import pytest
import torch

from skdomainclust._net import DomainDataset, PairedDomainIterator
from skdomainclust.metrics import cluster_accuracy, cross_domain_retrieval_scores
from skdomainclust.nn.neighbours import within_domain_neighbours
from skdomainclust.nn.pca import PCAResidual
from skdomainclust.ucdir import UCDIRRetriever, UCDIRSchedule, order_domains

from ._cases import make_shifted_blobs


def _fast(**params):
    defaults = dict(n_clusters=3, hidden_dims=(32,), projection_dims=(32,), embedding_dim=16,
                    max_epochs=6, warmup_epochs=2, saturation_epoch=4, alignment_epoch=4,
                    batch_size=32, kmeans_n_init=2, kmeans_n_iter=5, random_state=0)
    return UCDIRRetriever(**{**defaults, **params})


@pytest.fixture(scope="module")
def blobs():
    """Three classes in a source domain (0) and a rotated, shifted target domain (-1)."""
    return make_shifted_blobs(n_per_class=30, n_classes=3, n_features=6, seed=0)


@pytest.fixture(scope="module")
def fitted(blobs):
    X, y, sd = blobs
    return _fast().fit(X, sample_domain=sd)


# -- domains -----------------------------------------------------------------------------------


@pytest.mark.parametrize("ids, expected", [
    ([0, -1], (0, -1)), ([-1, 0, -1], (0, -1)), ([-2, -1], (-1, -2)), ([3, 1], (1, 3)),
    ([-1, 2], (2, -1)),
])
def test_domain_order_depends_on_the_ids_only(ids, expected):
    assert order_domains(ids) == expected
    assert order_domains(ids[::-1]) == expected


@pytest.mark.parametrize("ids", [[0, 0], [-1], [0, 1, -1]])
def test_anything_but_two_domains_is_a_clear_error(ids):
    with pytest.raises(ValueError, match="exactly two domains"):
        order_domains(ids)


def test_fit_rejects_one_or_three_domains(blobs):
    X, y, sd = blobs
    with pytest.raises(ValueError, match="exactly two domains"):
        _fast().fit(X)  # no sample_domain and no y: every row is target
    with pytest.raises(ValueError, match="exactly two domains"):
        _fast().fit(X, sample_domain=np.where(np.arange(len(X)) % 3 == 0, -2, sd))


def test_domains_a_and_b_follow_the_documented_rule(blobs):
    X, y, sd = blobs
    two_targets = np.where(sd == 0, -2, -1)
    model = _fast(max_epochs=1).fit(X, sample_domain=two_targets)
    assert model.domains_.tolist() == [-1, -2]
    np.testing.assert_array_equal(model.fit_rows_[0], np.flatnonzero(two_targets == -1))
    inferred = _fast(max_epochs=1).fit(X, np.where(sd < 0, -1, y))
    assert inferred.domains_.tolist() == [0, -1]


def test_labels_are_never_used(blobs):
    X, y, sd = blobs
    reference = _fast().fit(X, sample_domain=sd).transform(X)
    scrambled = np.random.default_rng(3).permutation(y)
    np.testing.assert_array_equal(_fast().fit(X, scrambled, sample_domain=sd).transform(X),
                                  reference)


def test_bad_parameters_are_rejected(blobs):
    X, y, sd = blobs
    for params, match in [({"n_clusters": 1}, "n_clusters"),
                          ({"n_clusters": 91}, "smaller domain"),
                          ({"intersect_n_clusters": (4, 91)}, "smaller domain"),
                          ({"intersect_n_clusters": (1,)}, "at least 2"),
                          ({"intersect_n_clusters": 6}, "intersect_n_clusters"),
                          ({"key_momentum": 1.0}, "key_momentum"),
                          ({"temperature": 0.0}, "temperature"),
                          ({"saturation_epoch": 1, "warmup_epochs": 3}, "saturation_epoch"),
                          ({"dd_weight": -1.0}, "dd_weight"),
                          ({"mixup_share": 1.5}, "mixup_share"),
                          ({"views": "noise"}, "views"),
                          ({"init": "identity"}, "init")]:
        with pytest.raises((ValueError, TypeError), match=match):
            _fast(**params).fit(X, sample_domain=sd)


def test_a_diverging_loss_is_a_clear_error(blobs):
    from skdomainclust import DivergenceError

    X, y, sd = blobs
    with pytest.raises(DivergenceError, match="diverged"):
        _fast(lr=1e12).fit(X * 1e30, sample_domain=sd)


# -- batching and schedule ---------------------------------------------------------------------


def test_paired_batches_hold_both_domains_and_visit_the_larger_one_once():
    slots = np.repeat([0, 1], [70, 25])
    dataset = DomainDataset({"X": np.zeros((95, 2)), "sample_domain": slots})
    iterator = PairedDomainIterator(dataset, batch_size=16, shuffle=True)
    assert len(iterator) == math.ceil(70 / 16)
    seen = []
    for batch, _ in iterator:
        batch_slots = batch["sample_domain"]
        assert int((batch_slots == 0).sum()) == 16 and int((batch_slots == 1).sum()) == 16
        for slot in (0, 1):
            rows = batch["index"][batch_slots == slot]
            assert len(torch.unique(rows)) == len(rows)  # no row twice in a batch
        seen.append(batch["index"][batch_slots == 0])
    assert set(torch.cat(seen).tolist()) == set(range(70))


def test_a_domain_smaller_than_the_batch_gives_all_its_rows():
    dataset = DomainDataset({"X": np.zeros((45, 2)), "sample_domain": np.repeat([0, 1],
                                                                                  [40, 5])})
    for batch, _ in PairedDomainIterator(dataset, batch_size=16):
        assert sorted(batch["index"][batch["sample_domain"] == 1].tolist()) == list(range(40,
                                                                                          45))


def test_weight_schedule():
    schedule = UCDIRSchedule(warmup_epochs=10, saturation_epoch=30, alignment_epoch=20,
                             cluster_weight=1.0, cluster_weight_start=0.2, entropy_weight=0.5,
                             dd_weight=0.1)
    assert schedule.weights_at(9) == {"cluster": 0.0, "entropy": 0.0, "dd": 0.0}
    assert schedule.weights_at(10)["cluster"] == pytest.approx(0.2)
    assert schedule.weights_at(20) == pytest.approx({"cluster": 0.6, "entropy": 0.5, "dd": 0.1})
    assert schedule.weights_at(30)["cluster"] == pytest.approx(1.0)
    assert schedule.weights_at(99)["cluster"] == pytest.approx(1.0)
    assert schedule.weights_at(19)["entropy"] == 0.0


def test_history_records_the_loss_parts_of_each_phase(fitted):
    history = fitted.net_.history
    assert "cw_a" not in history[0] and "inst_b" in history[0]
    assert {"cw_a", "cw_b", "kept_a", "entropy", "dd"} <= set(history[-1])
    assert all(np.isfinite(row["train_loss"]) for row in history)


def test_instance_only_ablation_never_clusters_during_training(blobs):
    X, y, sd = blobs
    model = _fast(cluster_weight=0.0, entropy_weight=0.0, dd_weight=0.0).fit(X,
                                                                             sample_domain=sd)
    assert all(set(row) & {"cw_a", "entropy", "dd"} == set() for row in model.net_.history)
    assert model.cluster_centers_.shape == (2, 3, 16)  # prototypes for predict all the same


def test_cells_are_the_clustering_itself_without_intersection(blobs):
    X, y, sd = blobs
    module = _fast(intersect_n_clusters=()).fit(X, sample_domain=sd).net_.module_
    torch.testing.assert_close(module.cells_a, module.assignment_a)
    torch.testing.assert_close(module.cells_b, module.assignment_b)


def test_auto_intersects_with_twice_the_clusters_when_the_domains_allow(blobs):
    X, y, sd = blobs  # 90 rows per domain
    assert _fast(n_clusters=3).fit(X, sample_domain=sd).net_.module_.intersect_n_clusters \
        == (6,)
    assert _fast(n_clusters=46, max_epochs=1).fit(X, sample_domain=sd) \
        .net_.module_.intersect_n_clusters == ()


def test_intersected_cells_refine_every_clustering(blobs):
    """With further k, two rows share a cell exactly when they share the n_clusters cluster
    and the cluster of every further clustering: the cells refine the main assignment, and
    the cluster-wise loss (recorded in the history) runs on them."""
    X, y, sd = blobs
    model = _fast(intersect_n_clusters=(6,)).fit(X, sample_domain=sd)
    module = model.net_.module_
    for slot in (0, 1):
        cells, main = module.cells(slot), module.assignment(slot)
        same_cell = cells[:, None] == cells[None, :]
        assert bool((main[:, None] == main[None, :])[same_cell].all())
        assert len(torch.unique(cells)) >= len(torch.unique(main))
        assert int(cells.max()) < module.max_cells(slot)
    assert np.isfinite(model.net_.history[-1, "cw_a"])
    # A finer clustering splits at least one cluster of the blobs' 3.
    assert len(torch.unique(module.cells_a)) > 3


def test_key_encoder_follows_by_moving_average_only(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=1)
    model.fit(X, sample_domain=sd)
    module = model.net_.module_
    optimised = {id(p) for group in model.net_.optimizer_.param_groups for p in group["params"]}
    assert all(id(p) not in optimised for p in module.encoder_k.parameters())
    assert all(id(p) in optimised for p in module.encoder_q.parameters())
    before = [p.clone() for p in module.encoder_k.parameters()]
    module.momentum_update(0.9)
    for old, p_k, p_q in zip(before, module.encoder_k.parameters(),
                             module.encoder_q.parameters()):
        torch.testing.assert_close(p_k, 0.9 * old + 0.1 * p_q)


def test_neighbour_table_stays_in_domain_and_equals_brute_force(rng):
    X = torch.as_tensor(rng.normal(size=(30, 4)))
    table = within_domain_neighbours(X, torch.arange(30) >= 18, 4)
    unit = (X / X.norm(dim=1, keepdim=True)).numpy()
    for offset, stop in ((0, 18), (18, 30)):
        similarity = unit[offset:stop] @ unit[offset:stop].T
        np.fill_diagonal(similarity, -np.inf)
        expected = offset + np.argsort(-similarity, axis=1, kind="stable")[:, :4]
        np.testing.assert_array_equal(np.sort(table[offset:stop].numpy(), axis=1),
                                      np.sort(expected, axis=1))
    # capped by the smaller domain
    assert within_domain_neighbours(X, torch.arange(30) >= 27, 10).shape == (30, 2)


def test_mixup_views_only_mix_rows_of_one_domain(blobs):
    X, y, sd = blobs
    model = _fast(max_epochs=1, mixup_neighbors=5)
    model.fit(X, sample_domain=sd)
    net = model.net_
    net.train_X_ = torch.as_tensor(np.concatenate([X[sd == 0], X[sd < 0]]), dtype=torch.float32)
    net.neighbours_ = within_domain_neighbours(net.train_X_, torch.arange(180) >= 90, 5)
    assert (net.neighbours_[:90] < 90).all() and (net.neighbours_[90:] >= 90).all()
    index = torch.arange(0, 180, 7)
    x = net.train_X_[index]
    mixed = net.mix_with_neighbours(x, index)
    assert mixed.shape == x.shape and not torch.equal(mixed, x)
    net.mixup_share = 0.0
    torch.testing.assert_close(net.mix_with_neighbours(x, index), x)


# -- retrieval ---------------------------------------------------------------------------------


def _brute_force_neighbours(embedding, query_rows, gallery_rows, n):
    """Cosine similarity by numpy, then a stable sort of the negated similarities."""
    unit = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
    similarity = unit[query_rows] @ unit[gallery_rows].T
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :n]
    return 1.0 - np.take_along_axis(similarity, order, axis=1), gallery_rows[order]


def test_kneighbors_equals_brute_force_over_the_other_domain(fitted, blobs):
    X, y, sd = blobs
    embedding = fitted.transform(X).astype(np.float64)
    rows_a, rows_b = np.flatnonzero(sd == 0), np.flatnonzero(sd < 0)
    for queries, gallery, domain in ((rows_a, rows_b, 0), (rows_b, rows_a, -1)):
        distances, indices = fitted.kneighbors(X[queries], n_neighbors=7, sample_domain=domain)
        expected_d, expected_i = _brute_force_neighbours(embedding, queries, gallery, 7)
        np.testing.assert_allclose(distances, expected_d, atol=1e-5)
        # Indices agree wherever the similarities are not within float32 rounding of a tie.
        assert np.mean(indices == expected_i) > 0.97
        assert np.isin(indices, gallery).all()
        assert (np.diff(distances, axis=1) >= -1e-7).all()


def test_kneighbors_without_x_queries_with_every_training_row(fitted, blobs):
    X, y, sd = blobs
    distances, indices = fitted.kneighbors(n_neighbors=4)
    assert indices.shape == (len(X), 4)
    assert (sd[indices] != sd[:, None]).all()
    explicit = fitted.kneighbors(X, n_neighbors=4, sample_domain=sd, return_distance=False)
    assert np.mean(explicit == indices) > 0.97
    np.testing.assert_allclose(fitted.kneighbors(X, 4, sd)[0], distances, atol=1e-5)


def test_kneighbors_errors(fitted, blobs):
    X, y, sd = blobs
    with pytest.raises(ValueError, match="fitted domains"):
        fitted.kneighbors(X[:3], 2, sample_domain=5)
    with pytest.raises(ValueError, match="larger than the smaller domain"):
        fitted.kneighbors(X[:3], 91, sample_domain=0)
    with pytest.raises(ValueError, match="positive integer"):
        fitted.kneighbors(X[:3], 0, sample_domain=0)


def _brute_force_scores(embedding, y, queries, gallery, cutoffs):
    """P@k (standard and truncated) and mAP by loops over a float64 stable ranking."""
    unit = embedding.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    scores = {f"P@{k}": [] for k in cutoffs} | {f"T@{k}": [0, 0] for k in cutoffs} | {"AP": []}
    for i in np.flatnonzero(queries):
        order = np.flatnonzero(gallery)[np.argsort(-(unit[gallery] @ unit[i]), kind="stable")]
        relevant = [int(y[j] == y[i]) for j in order]
        n_relevant = sum(relevant)
        for k in cutoffs:
            scores[f"P@{k}"].append(sum(relevant[:k]) / k)
            cut = min(k, n_relevant)
            scores[f"T@{k}"][0] += sum(relevant[:cut])
            scores[f"T@{k}"][1] += cut
        hits, ap = 0, 0.0
        for rank, rel in enumerate(relevant, start=1):
            if rel:
                hits += 1
                ap += hits / rank
        scores["AP"].append(ap / n_relevant)
    out = {f"P@{k}": np.mean(scores[f"P@{k}"]) for k in cutoffs}
    out |= {f"T@{k}": scores[f"T@{k}"][0] / scores[f"T@{k}"][1] for k in cutoffs}
    return out | {"mAP": np.mean(scores["AP"])}


def test_retrieval_scores_equal_brute_force(fitted, blobs):
    X, y, sd = blobs
    # Noisy rows, and only 4 rows of class 2 in B: the truncated variant differs (R_q < 15).
    keep = ~((sd < 0) & (y == 2)) | (np.cumsum((sd < 0) & (y == 2)) <= 4)
    X = X[keep] + np.random.default_rng(0).normal(scale=2.0, size=X[keep].shape)
    y, sd = y[keep], sd[keep]
    scores = fitted.retrieval_scores(X, y, sd, k=(1, 5, 15))
    assert scores["A->B P@15 (truncated)"] != pytest.approx(scores["A->B P@15"], abs=0.01)
    embedding = fitted.transform(X)
    for name, queries, gallery in (("A->B", sd == 0, sd < 0), ("B->A", sd < 0, sd == 0)):
        expected = _brute_force_scores(embedding, y, queries, gallery, (1, 5, 15))
        for k in (1, 5, 15):
            assert scores[f"{name} P@{k}"] == pytest.approx(expected[f"P@{k}"], abs=1e-12)
            assert scores[f"{name} P@{k} (truncated)"] == pytest.approx(expected[f"T@{k}"],
                                                                        abs=1e-12)
        assert scores[f"{name} mAP"] == pytest.approx(expected["mAP"], abs=1e-12)


def test_retrieval_scores_agree_with_the_kneighbors_ranking(fitted, blobs):
    """P@k (both variants) and mAP recomputed from the full kneighbors ranking."""
    X, y, sd = blobs
    scores = fitted.retrieval_scores(X, y, sd, k=(1, 5, 15))
    _, ranking = fitted.kneighbors(n_neighbors=90)
    for name, queries in (("A->B", sd == 0), ("B->A", sd < 0)):
        relevant = y[ranking[queries]] == y[queries][:, None]
        n_relevant = relevant.sum(axis=1)
        for k in (1, 5, 15):
            assert scores[f"{name} P@{k}"] == pytest.approx(relevant[:, :k].mean(), abs=0.02)
            cut = np.minimum(k, n_relevant)
            truncated = sum(relevant[i, :c].sum() for i, c in enumerate(cut)) / cut.sum()
            assert scores[f"{name} P@{k} (truncated)"] == pytest.approx(truncated, abs=0.02)
        precision = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
        ap = (precision * relevant).sum(axis=1) / n_relevant
        assert scores[f"{name} mAP"] == pytest.approx(ap.mean(), abs=0.02)
    assert scores["P@1"] == pytest.approx((scores["A->B P@1"] + scores["B->A P@1"]) / 2)
    assert fitted.score(X, y, sd) == pytest.approx(scores["P@1"])


def test_cross_domain_scores_of_identical_domains_are_perfect():
    X = np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]] + 0.01 * np.arange(8)[:, None]
    y = np.array([0, 1, 2, 3] * 2)
    scores = cross_domain_retrieval_scores(X, y, np.arange(8) < 4, k=(1, 3))
    assert scores["P@1"] == 1.0 and scores["mAP"] == 1.0
    assert scores["A->B P@3"] == pytest.approx(1 / 3)
    assert scores["A->B P@3 (truncated)"] == 1.0
    with pytest.raises(ValueError, match="both domains"):
        cross_domain_retrieval_scores(X, y, np.ones(8, dtype=bool))


def test_retrieval_scores_need_both_domains(fitted, blobs):
    X, y, sd = blobs
    with pytest.raises(ValueError, match="both fitted domains"):
        fitted.retrieval_scores(X, y)  # no sample_domain: every row is -1 (domain B)


# -- clusters ----------------------------------------------------------------------------------


def test_prototype_ids_are_shared_across_domains(fitted, blobs):
    X, y, sd = blobs
    assert fitted.cluster_centers_.shape == (2, 3, 16)
    np.testing.assert_allclose(np.linalg.norm(fitted.cluster_centers_, axis=2), 1.0, atol=1e-5)
    np.testing.assert_array_equal(fitted.predict(X, sample_domain=sd), fitted.labels_)
    # Separated blobs: each class is one cluster, with the same id in both domains.
    assert cluster_accuracy(y, fitted.labels_) > 0.9
    unseen = fitted.predict(X, sample_domain=7)
    assert unseen.shape == (len(X),) and set(unseen) <= {0, 1, 2}


def test_embedding_is_l2_normalised_float32(fitted, blobs):
    X, y, sd = blobs
    embedding = fitted.transform(X)
    assert embedding.dtype == np.float32 and embedding.shape == (len(X), 16)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)


def test_gallery_and_prototypes_survive_pickling(fitted, blobs):
    X, y, sd = blobs
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.kneighbors(n_neighbors=3)[1],
                                  fitted.kneighbors(n_neighbors=3)[1])
    assert restored.net_.train_X_ is None  # no training rows travel with the model


def test_images_with_a_conv_encoder():
    from skdomainclust.datasets import make_digits_shift, stack_domains
    from skdomainclust.nn.convnet import ConvNet

    data = make_digits_shift(domains=("original", "noisy"), return_images=True)
    X, y, sd = stack_domains(data, source="original", target="noisy", use_images=True)
    X, y, sd = X[::6], y[::6], sd[::6]
    encoder = ConvNet(in_channels=X.shape[1], widths=(4, 8), out_features=16,
                      image_size=X.shape[-1])
    model = UCDIRRetriever(n_clusters=4, encoder=encoder, embedding_dim=8,
                           projection_dims=(16,), max_epochs=2, warmup_epochs=1,
                           saturation_epoch=1, alignment_epoch=1, batch_size=16,
                           random_state=0).fit(X, sample_domain=sd)
    assert model.transform(X).shape == (len(X), 8)
    assert model.kneighbors(X[:2], 2, sample_domain=sd[:2])[1].shape == (2, 2)


# -- the geometry-preserving start -------------------------------------------------------------


def test_init_pca_is_the_default_for_feature_vectors_and_refused_for_images(blobs):
    X, y, sd = blobs
    assert isinstance(_fast(max_epochs=1).fit(X, sample_domain=sd).net_.module_.encoder_q,
                      PCAResidual)
    assert not isinstance(_fast(max_epochs=1, init="random").fit(X, sample_domain=sd)
                          .net_.module_.encoder_q, PCAResidual)
    from skdomainclust.nn.convnet import ConvNet

    images = np.zeros((12, 1, 8, 8), dtype=np.float32)
    encoder = ConvNet(in_channels=1, widths=(4,), out_features=8, image_size=8)
    with pytest.raises(ValueError, match="feature vectors"):
        _fast(init="pca", n_clusters=2, encoder=encoder).fit(
            images, sample_domain=np.repeat([0, -1], 6))


@pytest.mark.slow
def test_the_pca_start_keeps_pretrained_geometry_where_a_random_start_loses_it(rng):
    """Well-separated 'pretrained' features with a nuisance shift: the PCA start retrieves
    at least as well as the raw features after training; a random start does worse."""
    X, y, sd = make_shifted_blobs(n_per_class=40, n_classes=5, n_features=20, seed=3)
    raw = cross_domain_retrieval_scores(X, y, sd >= 0, (1,))
    scores = {}
    for init in ("pca", "random"):
        model = _fast(n_clusters=5, init=init, max_epochs=10, warmup_epochs=3,
                      saturation_epoch=6, alignment_epoch=6)
        scores[init] = model.fit(X, sample_domain=sd).retrieval_scores(X, y, sd, k=(1,))
    assert scores["pca"]["P@1"] >= raw["P@1"] - 0.005
    assert scores["pca"]["mAP"] >= scores["random"]["mAP"]


# -- learning ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_short_run_beats_raw_features_on_digits_shift():
    """The demo's run: 20 epochs on the built-in digits, original (A) and rotated (B)."""
    from skdomainclust._demo import load_demo_data

    data, y_target = load_demo_data(target="rotated", random_state=0)
    y = np.where(data.sample_domain < 0, -1, data.y)
    y[data.sample_domain < 0] = y_target
    raw = cross_domain_retrieval_scores(data.X, y, data.sample_domain >= 0)
    model = UCDIRRetriever(n_clusters=data.n_classes, random_state=0, **DEMO_PARAMS)
    model.fit(data.X, sample_domain=data.sample_domain)
    learned = model.retrieval_scores(data.X, y, data.sample_domain)
    assert learned["P@1"] > raw["P@1"] + 0.08
    assert learned["mAP"] > raw["mAP"] + 0.15
    # The demo entry's score: the target's nearest prototypes match the classes (chance ~0.1).
    target = data.sample_domain < 0
    assert cluster_accuracy(y_target, model.predict(data.X[target], sample_domain=-1)) > 0.5


#: The demo's short schedule (``skdomainclust._demo._ucdir``).
DEMO_PARAMS = dict(max_epochs=20, warmup_epochs=5, saturation_epoch=12, alignment_epoch=12)
