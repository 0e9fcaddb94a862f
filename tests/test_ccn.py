"""CCN: PairwiseSimilarity, CCNClusterer and CCNAdapter (the shared suite runs via ``_cases``)."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from skdomainclust import CCNAdapter, CCNClusterer, PairwiseSimilarity
from skdomainclust._geometry import geometry_agreement, input_geometry
from skdomainclust._net import DomainDataset, SourceTargetIterator
from skdomainclust.ccn import ClassBalancedIterator, n_clusters_estimate
from skdomainclust.ccn._network import SameInputCluster
from skdomainclust.exceptions import GeometryDisagreementWarning
from skdomainclust.metrics import cluster_accuracy
from skdomainclust.nn.convnet import ConvNet

from ._cases import DistanceSimilarity, make_shifted_blobs


def _blobs(n_classes=10, n_per_class=40, n_features=8, seed=0, scale=4.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=scale, size=(n_classes, n_features))
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = centres[y] + rng.normal(size=(len(y), n_features))
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def cross_task():
    """G fitted on 20 blob classes; the target holds 6 unseen classes (labels 20-25)."""
    X, y = _blobs(n_classes=26)
    aux = y < 20
    G = PairwiseSimilarity(hidden_dims=(64, 32), classes_per_batch=6, samples_per_class=8,
                           max_epochs=20, lr=3e-3, random_state=0).fit(X[aux], y[aux])
    return G, X[~aux], y[~aux]


# -- batching ----------------------------------------------------------------------------------


def test_class_balanced_batches():
    y = np.repeat(np.arange(6), [10, 10, 10, 10, 10, 3])
    dataset = DomainDataset(np.zeros((len(y), 2), np.float32), y)
    iterator = ClassBalancedIterator(dataset, classes_per_batch=4, samples_per_class=5)
    assert len(iterator) == len(y) // 20
    torch.manual_seed(0)
    for _ in range(20):
        for batch, yb in iterator:
            labels, counts = np.unique(yb.numpy(), return_counts=True)
            assert len(labels) == 4 and (counts == 5).all()
            for label in labels:
                rows = batch["index"][yb == label].numpy()
                # Without replacement when the class has enough rows; all of a small class.
                assert len(np.unique(rows)) == min(5, int(np.sum(y == label)))
                assert (y[rows] == label).all()


def test_source_target_batches():
    y = np.array([0, 1] * 25 + [-1] * 40)
    sd = np.array([0] * 50 + [-1] * 40)
    dataset = DomainDataset({"X": np.zeros((90, 2), np.float32), "sample_domain": sd}, y)
    iterator = SourceTargetIterator(dataset, source_batch_size=8, target_batch_size=12)
    assert len(iterator) == 7  # ceil(50 / 8) > ceil(40 / 12)
    batches = list(iterator)
    assert len(batches) == 7
    for batch, _ in batches:
        domains = batch["sample_domain"].numpy()
        assert (domains[:8] == 0).all() and (domains[8:] == -1).all() and len(domains) == 20


# -- PairwiseSimilarity ------------------------------------------------------------------------


def test_similarity_network_transfers_to_new_classes(cross_task):
    G, X, y = cross_task
    report = G.pair_report(X, y)
    assert report["n_similar_pairs"] == 6 * 40 * 39
    assert report["similar_precision"] > 0.7 and report["similar_recall"] > 0.9
    assert report["dissimilar_precision"] > 0.95 and report["dissimilar_recall"] > 0.9
    P = G.predict_proba_pairs(X[:50])
    assert P.shape == (50, 50) and P.min() >= 0 and P.max() <= 1
    S = G.similarity_matrix(X[:50])
    assert set(np.unique(S)) <= {0, 1}
    np.testing.assert_array_equal(S, P > 0.5)
    # G's own clustering (average linkage, no K) already recovers the unseen classes.
    assert cluster_accuracy(y, G.predict(X)) > 0.8
    assert G.transform(X[:5]).shape == (5, 32)


def test_predict_numbers_clusters_by_first_appearance(cross_task):
    """The ids of G's own clustering do not depend on the tree's merge order: cluster 0 holds
    the first row, and each new id appears after every smaller one."""
    G, X, y = cross_task
    labels = G.predict(X)
    _, first = np.unique(labels, return_index=True)
    assert labels[0] == 0 and np.all(np.diff(first) > 0)
    order = np.random.default_rng(0).permutation(len(X))
    reordered = G.predict(X[order])
    assert reordered[0] == 0
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(labels[order], reordered) == 1.0


def test_pair_report_counts_self_pairs_on_request(cross_task):
    G, X, y = cross_task
    with_self = G.pair_report(X[:30], y[:30], include_self_pairs=True)
    without = G.pair_report(X[:30], y[:30])
    assert with_self["n_similar_pairs"] == without["n_similar_pairs"] + 30


def test_adapted_batchnorm_leaves_the_fitted_network_alone(cross_task):
    G, X, y = cross_task
    before = {k: v.clone() for k, v in G.net_.module_.state_dict().items()}
    frozen = G.predict_proba_pairs(X[:40])
    adapted = G.predict_proba_pairs(X[:40] * 1.5 + 2, bn="adapt")
    assert adapted.shape == (40, 40)
    for key, value in G.net_.module_.state_dict().items():
        torch.testing.assert_close(value, before[key])
    np.testing.assert_array_equal(G.predict_proba_pairs(X[:40]), frozen)
    with pytest.raises(ValueError, match="bn must be"):
        G.predict_proba_pairs(X[:5], bn="batch")


def test_similarity_network_ignores_target_rows():
    X, y, sd = make_shifted_blobs()
    fit_a = PairwiseSimilarity(hidden_dims=(8,), max_epochs=2, random_state=0).fit(X, y, sd)
    scrambled = np.where(sd < 0, -1, y)
    fit_b = PairwiseSimilarity(hidden_dims=(8,), max_epochs=2, random_state=0).fit(
        X, scrambled, sd)
    np.testing.assert_array_equal(fit_a.predict_proba_pairs(X), fit_b.predict_proba_pairs(X))


# -- CCNClusterer ------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["kcl", "mcl"])
def test_clusterer_learns_unseen_classes_with_true_k(cross_task, loss):
    G, X, y = cross_task
    model = CCNClusterer(n_clusters=6, similarity=G, loss=loss, hidden_dims=(64,),
                         max_epochs=30, batch_size=100, lr=3e-3, random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) > 0.9  # chance is about 1/6
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    proba = model.predict_proba(X[:7])
    assert proba.shape == (7, 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_clusterer_estimates_the_number_of_clusters(cross_task):
    G, X, y = cross_task
    # MCL leaves unneeded outputs empty more readily than KCL (as Hsu et al. 2019 report).
    model = CCNClusterer(n_clusters=30, similarity=G, loss="mcl", hidden_dims=(64,),
                         max_epochs=40, lr=3e-3, random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) > 0.9
    assert 5 <= model.n_clusters_estimated_ <= 7  # 6 true clusters
    assert model.n_clusters_estimated_ == n_clusters_estimate(model.labels_, 30)


@pytest.mark.parametrize("bn", ["batch", "adapt", "frozen"])
def test_similarity_batchnorm_modes_learn_and_leave_g_unchanged(cross_task, bn):
    G, X, y = cross_task
    before = {k: v.clone() for k, v in G.net_.module_.state_dict().items()}
    model = CCNClusterer(n_clusters=6, similarity=G, similarity_bn=bn, hidden_dims=(64,),
                         max_epochs=20, lr=3e-3, random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) > 0.8
    for key, value in G.net_.module_.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert model.similarity_ is G


def test_clusterer_clusters_target_rows_only(cross_task):
    G, X, y = cross_task
    X_aux, _ = _blobs(n_classes=26)
    stacked = np.concatenate([X_aux[:100], X])
    sd = np.r_[np.zeros(100, int), -np.ones(len(X), int)]
    model = CCNClusterer(n_clusters=6, similarity=G, hidden_dims=(32,), max_epochs=3,
                         random_state=0).fit(stacked, sample_domain=sd)
    assert (model.labels_[:100] == -1).all() and (model.labels_[100:] >= 0).all()
    same = CCNClusterer(n_clusters=6, similarity=G, hidden_dims=(32,), max_epochs=3,
                        random_state=0).fit(X)
    np.testing.assert_array_equal(model.labels_[100:], same.labels_)


def test_fitted_similarity_survives_clone_when_frozen(cross_task):
    G, X, y = cross_task
    plain = CCNClusterer(n_clusters=6, similarity=G, max_epochs=2)
    with pytest.raises(ValueError, match="needs a similarity"):
        clone(plain).fit(X)  # clone unfitted G and there are no labels to refit it on
    frozen = clone(CCNClusterer(n_clusters=6, similarity=FrozenEstimator(G), max_epochs=2,
                                hidden_dims=(16,), random_state=0))
    assert frozen.fit(X).similarity_ is G


def test_similarity_is_fitted_on_the_labelled_source_rows():
    X, y = _blobs(n_classes=8, n_per_class=30)
    sd = np.where(y < 4, 0, -1)
    unfitted = PairwiseSimilarity(hidden_dims=(32, 16), max_epochs=15, lr=3e-3)
    model = CCNClusterer(n_clusters=4, similarity=unfitted, hidden_dims=(32,), max_epochs=15,
                         lr=3e-3, random_state=0).fit(X, y, sample_domain=sd)
    assert not hasattr(unfitted, "net_")  # the parameter itself is never fitted
    assert isinstance(model.similarity_, PairwiseSimilarity)
    assert model.similarity_.random_state is not None  # seeded from the clusterer's
    np.testing.assert_array_equal(model.similarity_.classes_, np.arange(4))
    assert cluster_accuracy(y[sd < 0], model.labels_[sd < 0]) > 0.8
    default = CCNClusterer(n_clusters=4, hidden_dims=(16,), max_epochs=1, random_state=0)
    assert isinstance(default.fit(X, y, sample_domain=sd).similarity_, PairwiseSimilarity)


def test_callable_similarity(cross_task):
    _, X, y = cross_task
    model = CCNClusterer(n_clusters=6, similarity=DistanceSimilarity(), hidden_dims=(64,),
                         max_epochs=20, lr=3e-3, random_state=0).fit(X)
    assert model.similarity_ is None
    assert cluster_accuracy(y, model.labels_) > 0.6

    def bad(X):
        return np.ones((len(X), 2))

    with pytest.raises(ValueError, match="must return a"):
        CCNClusterer(n_clusters=6, similarity=bad, max_epochs=1).fit(X)


def test_fitted_model_pickles_without_the_training_cache(cross_task):
    G, X, y = cross_task
    model = CCNClusterer(n_clusters=6, similarity=G, similarity_bn="adapt", hidden_dims=(16,),
                         max_epochs=2, random_state=0).fit(X)
    assert model.net_.similarity is None
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_images_with_a_conv_encoder():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 20)
    X = rng.normal(scale=0.3, size=(len(y), 1, 16, 16)).astype(np.float32)
    for k in range(4):  # one bright quadrant per class
        X[y == k, :, (k // 2) * 8:(k // 2) * 8 + 8, (k % 2) * 8:(k % 2) * 8 + 8] += 2.0
    encoder = ConvNet(in_channels=1, widths=(8, 8), out_features=16, image_size=16)
    G = PairwiseSimilarity(encoder=encoder, classes_per_batch=4, samples_per_class=8,
                           max_epochs=10, lr=3e-3, random_state=0).fit(X, y)
    model = CCNClusterer(n_clusters=4, similarity=G, encoder=encoder, max_epochs=15, lr=3e-3,
                         batch_size=40, random_state=0).fit(X)
    assert cluster_accuracy(y, model.labels_) > 0.7
    assert model.predict(X[:3]).shape == (3,)


def test_clusterer_validates_its_parameters(cross_task):
    G, X, _ = cross_task
    with pytest.raises(ValueError, match="exceeds"):
        CCNClusterer(n_clusters=len(X) + 1, similarity=G).fit(X)
    with pytest.raises(ValueError, match="loss"):
        CCNClusterer(loss="l2", similarity=G).fit(X)
    with pytest.raises(ValueError, match="similarity_bn"):
        CCNClusterer(similarity_bn="train", similarity=G).fit(X)
    with pytest.raises(TypeError, match="'similarity' parameter"):
        CCNClusterer(similarity="G").fit(X)
    with pytest.raises(ValueError, match="fitted on 8 features"):
        CCNClusterer(n_clusters=3, similarity=G).fit(X[:, :5])


def test_n_clusters_estimate():
    assert n_clusters_estimate([0] * 50 + [1] * 45 + [2] * 5, n_clusters=10) == 2
    assert n_clusters_estimate([0] * 50 + [1] * 45 + [2] * 5, n_clusters=2) == 1
    assert n_clusters_estimate([], n_clusters=3) == 0


def test_convnet_shapes():
    assert ConvNet(in_channels=1, widths=(4, 4, 4, 4))(torch.randn(2, 1, 32, 32)).shape == (2, 128)
    two = ConvNet(in_channels=3, widths=(4, 8), convs_per_block=2, out_features=10,
                  image_size=16)
    assert two(torch.randn(3, 3, 16, 16)).shape == (3, 10)
    with pytest.raises(ValueError, match="too small"):
        ConvNet(widths=(4,) * 6, image_size=32)


# -- CCNAdapter --------------------------------------------------------------------------------


@pytest.mark.slow
def test_adapter_learns_and_switches_off_its_terms():
    X, y, sd = make_shifted_blobs(n_per_class=60, n_classes=4, n_features=8, shift=1.0)
    masked = np.where(sd < 0, -1, y)
    target = sd < 0
    G = PairwiseSimilarity(hidden_dims=(32, 16), classes_per_batch=4, samples_per_class=10,
                           max_epochs=20, lr=3e-3, random_state=0)
    common = dict(hidden_dims=(32,), max_epochs=15, domain_hidden_dims=(32,), random_state=0)
    ccn = CCNAdapter(similarity=G, **common).fit(X, masked, sample_domain=sd)
    assert ccn.score(X, y, sample_domain=sd) > 0.8
    assert isinstance(ccn.similarity_, PairwiseSimilarity)
    assert ccn.net_.similarity is None and ccn.net_.module_.domain_classifier is None
    ccnpp = CCNAdapter(similarity=G, adversarial=True, **common).fit(X, masked, sample_domain=sd)
    assert ccnpp.net_.module_.domain_classifier is not None
    assert np.mean(ccnpp.predict(X[target]) == y[target]) > 0.8
    dann = CCNAdapter(cluster_weight=0, adversarial=True, **common).fit(
        X, masked, sample_domain=sd)
    assert dann.similarity_ is None  # no G is fitted for DANN
    proba = dann.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert dann.transform(X[:5]).shape == (5, 32)


def test_adapter_geometry_keeps_a_misleading_g_from_joining_the_target_classes():
    # A G that calls every target pair similar, weighed heavily: the clustering term pulls
    # target rows of different classes together; bounded by the target's own k-means
    # (geometry="kmeans"), it pulls each input cluster together instead.
    X, y, sd = make_shifted_blobs(n_per_class=60, n_classes=4, n_features=8, shift=1.0)
    masked = np.where(sd < 0, -1, y)
    common = dict(similarity=_everything_similar, cluster_weight=10.0, hidden_dims=(32,),
                  max_epochs=20, random_state=0)
    joined = CCNAdapter(**common).fit(X, masked, sample_domain=sd)
    bounded = CCNAdapter(geometry="kmeans", **common).fit(X, masked, sample_domain=sd)
    assert joined.score(X, y, sample_domain=sd) < 0.85  # measured 0.78
    assert bounded.score(X, y, sample_domain=sd) > 0.95  # measured 0.99


def test_adapter_needs_labels_and_target():
    X, y, sd = make_shifted_blobs()
    with pytest.raises(ValueError, match="[Nn]o target rows"):
        CCNAdapter(max_epochs=1).fit(X[sd >= 0], y[sd >= 0], sample_domain=sd[sd >= 0])
    with pytest.raises(ValueError, match="[Nn]o labelled source rows"):
        CCNAdapter(max_epochs=1).fit(X, np.full_like(y, -1), sample_domain=sd)


# -- the target's own geometry -----------------------------------------------------------------


def _everything_similar(X_batch):
    """A G that does not transfer, the way one fitted on too few classes fails: it joins
    every target class into one."""
    return np.ones((len(X_batch), len(X_batch)), dtype=np.float32)


def test_input_geometry_recovers_blobs_is_seeded_and_tells_structure_from_noise():
    X, y = _blobs(n_classes=5, n_per_class=30)
    labels, stability = input_geometry(X, 5, seed=3, device="cpu")
    assert labels.dtype == torch.long and labels.shape == (len(X),)
    assert cluster_accuracy(y, labels.numpy()) == 1.0
    assert stability == pytest.approx(1.0)
    again, _ = input_geometry(X, 5, seed=3, device="cpu")
    torch.testing.assert_close(labels, again)
    assert geometry_agreement(labels, y) == pytest.approx(1.0)
    noise = np.random.default_rng(0).normal(size=(150, 8)).astype(np.float32)
    assert input_geometry(noise, 5, seed=3, device="cpu")[1] < 0.5  # no clusters to find


def test_input_geometry_above_the_row_cap_fits_a_sample_and_labels_every_row(monkeypatch):
    import skdomainclust._geometry as geometry

    X, y = _blobs(n_classes=4, n_per_class=50)
    full, _ = input_geometry(X, 4, seed=0, device="cpu")
    monkeypatch.setattr(geometry, "MAX_ROWS", 60)
    monkeypatch.setattr(geometry, "_CHUNK", 7)  # several chunks
    labels, stability = input_geometry(X, 4, seed=0, device="cpu")
    assert labels.shape == (len(X),) and stability == pytest.approx(1.0)
    assert cluster_accuracy(full.numpy(), labels.numpy()) == 1.0  # the same partition
    again, _ = input_geometry(X, 4, seed=0, device="cpu")
    torch.testing.assert_close(labels, again)


def test_same_input_cluster_keeps_similar_pairs_inside_input_clusters():
    labels = torch.tensor([0, 0, 1, 1, 2])
    source = SameInputCluster(lambda X_seen, X_raw, rows: torch.ones(len(rows), len(rows)),
                              labels)
    rows = torch.tensor([4, 0, 1, 2])
    X = torch.zeros(4, 3)
    expected = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]],
                            dtype=torch.float32)
    torch.testing.assert_close(source(X, X, rows), expected)


def test_clusterer_warns_when_it_strays_from_the_input_geometry():
    X, y = _blobs(n_classes=6, n_per_class=40)
    kwargs = dict(n_clusters=6, loss="mcl", hidden_dims=(32,), max_epochs=100, lr=3e-3,
                  random_state=0)
    with pytest.warns(GeometryDisagreementWarning, match="geometry='kmeans'") as record:
        weak = CCNClusterer(similarity=_everything_similar, **kwargs).fit(X)
    assert record[0].filename == __file__  # points at the caller's fit
    assert weak.geometry_agreement_ < 0.5 and weak.geometry_stability_ > 0.9
    assert cluster_accuracy(y, weak.labels_) < 0.5  # G joined the classes; f followed it
    # The remedy: G's pairs only inside the input's k-means clusters.
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeometryDisagreementWarning)
        bounded = CCNClusterer(similarity=_everything_similar, geometry="kmeans",
                               **kwargs).fit(X)
    assert bounded.geometry_agreement_ > 0.9
    assert cluster_accuracy(y, bounded.labels_) > 0.95


def test_clusterer_on_features_without_structure_does_not_warn():
    # Raw pixels of new characters: the input's k-means is not reproducible, so a clustering
    # that departs from it is no sign of a G that fails (Omniglot's case).
    X = np.random.default_rng(1).normal(size=(240, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeometryDisagreementWarning)
        model = CCNClusterer(n_clusters=6, similarity=_everything_similar, hidden_dims=(16,),
                             max_epochs=3, random_state=0).fit(X)
    assert model.geometry_stability_ < 0.5


def test_clusterer_with_a_transferring_g_does_not_warn(cross_task):
    G, X, y = cross_task
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeometryDisagreementWarning)
        model = CCNClusterer(n_clusters=6, similarity=G, hidden_dims=(64,), max_epochs=30,
                             lr=3e-3, random_state=0).fit(X)
    assert model.geometry_agreement_ > 0.9
    # The check draws from its own generators: the clustering is the one it was before.
    assert cluster_accuracy(y, model.labels_) > 0.9
