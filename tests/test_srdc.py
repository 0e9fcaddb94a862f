"""SRDCAdapter: the per-epoch machinery, the switches, inference, and a short real run."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, clone

from skdomainclust import SourceOnlyClassifier
from skdomainclust._net import DomainDataset, SourceTargetIterator
from skdomainclust.datasets import make_digits_shift, stack_domains
from skdomainclust.losses.srdc import srdc_lambda
from skdomainclust.srdc import (
    AUTO_INPUT_DROPOUT,
    SRDCAdapter,
    dao_lr_factor,
    select_input_dropout,
)

from ._cases import make_shifted_blobs

FAST = dict(hidden_dims=(32,), bottleneck_dim=16, max_epochs=4, warmup_epochs=1, batch_size=16,
            input_dropout=0.0, random_state=0)


@pytest.fixture
def blobs():
    return make_shifted_blobs(n_per_class=30, n_classes=3, seed=0)


def test_iterator_pairs_full_source_and_target_halves():
    y = np.array([0, 1, 0, 1, 2, -1, -1, -1, -1, -1, -1, -1])
    sd = np.array([0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1])  # row 5: a masked source row
    dataset = DomainDataset({"X": np.arange(12, dtype=np.float32)[:, None], "sample_domain": sd},
                            y)
    iterator = SourceTargetIterator(dataset, batch_size=4, epoch_length="floor")
    assert len(iterator) == 1  # max(5 // 4, 6 // 4), SRDC's epochs
    assert len(SourceTargetIterator(dataset, batch_size=4)) == 2  # max(ceil(5 / 4), ceil(6 / 4))
    batches = list(iterator)
    assert len(batches) == 1
    batch, labels = batches[0]
    index = batch["index"].numpy()
    assert set(index[:4]) <= {0, 1, 2, 3, 4} and set(index[4:]) <= set(range(6, 12))
    assert (labels[:4] >= 0).all() and (labels[4:] == -1).all()
    # A side smaller than the batch is cycled, so every batch stays full.
    assert len(list(SourceTargetIterator(dataset, batch_size=7))[0][0]["index"]) == 14
    with pytest.raises(ValueError, match="epoch_length"):
        SourceTargetIterator(dataset, epoch_length="round")


def test_history_records_lambda_ramp_and_lr_schedule(blobs):
    X, y, sd = blobs
    model = SRDCAdapter(**{**FAST, "max_epochs": 6}).fit(X, y, sample_domain=sd)
    history = model.net_.history
    # One warm-up epoch (lambda 0), then the ramp over the remaining five epochs.
    np.testing.assert_allclose(history[:, "lambda"],
                               [0.0] + [srdc_lambda(e, 5) for e in range(5)])
    assert history[0, "lambda"] == history[1, "lambda"] == 0.0 < history[2, "lambda"]
    no_warmup = SRDCAdapter(**{**FAST, "max_epochs": 3, "warmup_epochs": 0}).fit(
        X, y, sample_domain=sd)
    np.testing.assert_allclose(no_warmup.net_.history[:, "lambda"],
                               [srdc_lambda(e, 3) for e in range(3)])
    groups = model.net_.optimizer_.param_groups
    factors = sorted(group["lr_factor"] for group in groups)
    assert factors == [0.1, 1.0]
    for group in groups:
        assert group["lr"] == pytest.approx(model.lr * dao_lr_factor(5, 6) * group["lr_factor"])
    agreement = history[:, "kmeans_agreement"]
    assert all(0.0 <= a <= 1.0 for a in agreement)


def test_the_source_classifier_alone_skips_the_clustering_and_learns_the_same(blobs,
                                                                                monkeypatch):
    # The input-dropout probes train with every target-side term off: the per-epoch
    # clustering is skipped, and forcing it back changes nothing the net learns.
    from skdomainclust.srdc import SRDCEpochSetup

    X, y, sd = blobs
    alone = dict(FAST, target_clustering=False, feature_clustering=False,
                 source_weighting=False)
    calls = []
    cluster = SRDCEpochSetup._cluster

    def counted(self, net, epoch):
        calls.append(epoch)
        return cluster(self, net, epoch)

    monkeypatch.setattr(SRDCEpochSetup, "_cluster", counted)
    skipped = SRDCAdapter(**alone).fit(X, y, sample_domain=sd)
    assert calls == [] and "kmeans_agreement" not in skipped.net_.history[-1]

    def always(self, net, **kwargs):
        epoch = len(net.history) - 1
        net.history.record("kmeans_agreement", self._cluster(net, epoch))
        self._schedule(net, epoch)

    monkeypatch.setattr(SRDCEpochSetup, "on_epoch_begin", always)
    forced = SRDCAdapter(**alone).fit(X, y, sample_domain=sd)
    assert calls == list(range(FAST["max_epochs"]))
    np.testing.assert_array_equal(forced.predict_proba(X), skipped.predict_proba(X))


def test_centres_and_weights_are_reinitialised_every_epoch(blobs, monkeypatch):
    """At each epoch start the centres become the midpoint of the target k-means centres and
    the source class means, and the source weights the cosines to the k-means centres; both
    recomputed here from the features the network gives at that moment."""
    from skdomainclust.losses.srdc import source_weights
    from skdomainclust.nn.kmeans import cluster_means, kmeans
    from skdomainclust.srdc import SRDCEpochSetup

    X, y, sd = blobs
    source, target = sd >= 0, sd < 0
    y_source = torch.as_tensor(y[source])
    original = SRDCEpochSetup.on_epoch_begin
    checked = []

    def spy(self, net, **kwargs):
        module = net.module_.eval()
        with torch.no_grad():
            z1, z2, logits = module.features(torch.as_tensor(X, dtype=torch.float32))
        original(self, net, **kwargs)
        epoch = len(net.history) - 1
        expected = []
        for z in (z1, z2):
            src, _ = cluster_means(z[source], y_source, 3)
            init = src if epoch == 0 else cluster_means(
                z[target], logits[target].argmax(1), 3, empty="keep", previous=src)[0]
            _, tgt = kmeans(z[target], init, 5, empty="keep")
            expected.append((src, tgt))
        for (src, tgt), centres in zip(expected, module.centres):
            np.testing.assert_allclose(centres.detach().numpy(), ((src + tgt) / 2).numpy(),
                                       rtol=1e-5, atol=1e-5)
        weights = net.srdc_state_["weights"][net.srdc_state_["source"]]
        if epoch == 0:
            assert (weights == 1).all()
        else:
            np.testing.assert_allclose(
                weights.numpy(), source_weights(z1[source], y_source, expected[0][1]).numpy(),
                rtol=1e-5, atol=1e-6)
        checked.append(epoch)

    monkeypatch.setattr(SRDCEpochSetup, "on_epoch_begin", spy)
    SRDCAdapter(**FAST).fit(X, y, sample_domain=sd)
    assert checked == [0, 1, 2, 3]


def test_target_rows_do_not_matter_with_every_component_off(blobs):
    """target_clustering, feature_clustering and source_weighting off: source-only training,
    so moving the target rows leaves the network (and its source predictions) unchanged."""
    X, y, sd = blobs
    params = dict(FAST, target_clustering=False, feature_clustering=False,
                  source_weighting=False)
    moved = X.copy()
    moved[sd < 0] += 5.0
    a = SRDCAdapter(**params).fit(X, y, sample_domain=sd)
    b = SRDCAdapter(**params).fit(moved, y, sample_domain=sd)
    np.testing.assert_array_equal(a.predict_proba(X[sd >= 0]), b.predict_proba(X[sd >= 0]))
    full = SRDCAdapter(**FAST).fit(moved, y, sample_domain=sd)
    assert not np.array_equal(full.predict_proba(X[sd >= 0]), b.predict_proba(X[sd >= 0]))


@pytest.mark.parametrize("switch, value", [("feature_clustering", False),
                                           ("source_weighting", False),
                                           ("target_clustering", False),
                                           ("assignment", "softmax")])
def test_each_switch_changes_the_model(blobs, switch, value):
    X, y, sd = blobs
    full = SRDCAdapter(**FAST).fit(X, y, sample_domain=sd)
    ablated = SRDCAdapter(**FAST, **{switch: value}).fit(X, y, sample_domain=sd)
    assert not np.allclose(full.predict_proba(X), ablated.predict_proba(X))


def test_inference_on_new_rows(blobs):
    X, y, sd = blobs
    model = SRDCAdapter(**FAST).fit(X, y, sample_domain=sd)
    new = make_shifted_blobs(n_per_class=5, n_classes=3, seed=0)[0][-15:] + 0.01
    proba = model.predict_proba(new)
    assert proba.shape == (15, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(new), model.classes_[proba.argmax(axis=1)])
    assert model.transform(new).shape == (15, 16)
    assert model.cluster_centers_.shape == (3, 16)
    assert model.labels_.shape == (len(X),)
    np.testing.assert_array_equal(model.labels_, model.predict(X))
    np.testing.assert_array_equal(
        clone(model).fit_predict(X, y, sample_domain=sd), model.labels_)


def test_string_labels_and_masked_source_rows(blobs):
    X, y, sd = blobs
    names = np.array(["cat", "dog", "eel"])[y].astype(object)
    masked = names.copy()
    model = SRDCAdapter(**FAST).fit(X, masked, sample_domain=sd)
    assert set(model.predict(X)) <= {"cat", "dog", "eel"}
    # Masked source rows are left out of training.
    y_masked = y.copy()
    y_masked[:5] = -1
    SRDCAdapter(**FAST).fit(X, y_masked, sample_domain=sd)


def test_bad_parameters_are_rejected(blobs):
    X, y, sd = blobs
    with pytest.raises(ValueError, match="n_clusters=5"):
        SRDCAdapter(**FAST, n_clusters=5).fit(X, y, sample_domain=sd)
    SRDCAdapter(**FAST, n_clusters=3).fit(X, y, sample_domain=sd)
    for bad in (dict(beta=1.5), dict(alpha=0), dict(centre_init="source"),
                dict(kmeans_iter=0), dict(batch_size=1), dict(input_dropout=1.0),
                dict(input_dropout="high"), dict(assignment="kernel")):
        with pytest.raises(ValueError):
            SRDCAdapter(**{**FAST, **bad}).fit(X, y, sample_domain=sd)


def test_diverging_training_raises(blobs):
    from skdomainclust import DivergenceError

    X, y, sd = blobs
    with pytest.raises(DivergenceError):
        SRDCAdapter(**{**FAST, "lr": 1e12}).fit(X * 1e6, y, sample_domain=sd)


def test_pickled_model_predicts_the_same(blobs):
    X, y, sd = blobs
    model = SRDCAdapter(**FAST).fit(X, y, sample_domain=sd)
    assert model.net_.srdc_state_ is None  # no training data travels with the model
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


@pytest.mark.slow
def test_short_run_on_digits_shift_beats_source_only():
    data = make_digits_shift(domains=("original", "blurred"), random_state=0)
    X, y, sd = stack_domains(data, source="original", target="blurred")
    target = sd < 0
    masked = np.where(target, -1, y)
    baseline = SourceOnlyClassifier(random_state=0).fit(X, masked, sample_domain=sd)
    model = SRDCAdapter(max_epochs=15, random_state=0).fit(X, masked, sample_domain=sd)
    base_acc = np.mean(baseline.predict(X[target]) == y[target])
    srdc_acc = np.mean(model.predict(X[target]) == y[target])
    assert srdc_acc > base_acc + 0.1, (srdc_acc, base_acc)


class _ScriptedProbe(BaseEstimator):
    """Stands in for the source-only probes: its held-out accuracy is scripted per rate (the
    first feature holds the true label; a scripted fraction of rows is answered wrong)."""

    ACCURACY = {0.0: 0.95, 0.3: 0.94, 0.5: 0.90, 0.7: 0.80}
    fitted_epochs = []  # max_epochs of every probe fitted, in order

    def __init__(self, input_dropout=0.0, target_clustering=True, feature_clustering=True,
                 source_weighting=True, n_clusters=None, verbose=0, random_state=None,
                 max_epochs=60):
        self.input_dropout = input_dropout
        self.target_clustering = target_clustering
        self.feature_clustering = feature_clustering
        self.source_weighting = source_weighting
        self.n_clusters = n_clusters
        self.verbose = verbose
        self.random_state = random_state
        self.max_epochs = max_epochs

    def fit(self, X, y, sample_domain=None):
        assert not self.target_clustering and not self.feature_clustering
        type(self).fitted_epochs.append(self.max_epochs)
        assert (y[sample_domain < 0] == -1).all()  # held-out labels never reach training
        return self

    def predict(self, X):
        labels = X[:, 0].astype(int)
        n_wrong = int(round((1 - self.ACCURACY[self.input_dropout]) * len(X)))
        labels[:n_wrong] = (labels[:n_wrong] + 1) % 2
        return labels


def test_select_input_dropout_takes_the_largest_rate_within_one_standard_error():
    y = np.repeat([0, 1], 200)
    X = np.c_[y, np.zeros_like(y)].astype(float)
    rate, scores = select_input_dropout(_ScriptedProbe(), X, y, random_state=0)
    assert scores == pytest.approx(_ScriptedProbe.ACCURACY)
    # 100 held-out rows: one standard error of the best (0.95) is sqrt(.95 * .05 / 100) = 0.022,
    # so 0.94 is as good as the best and 0.90 is not.
    assert rate == 0.3
    # A source too small to hold rows out gives no evidence: no dropout.
    assert select_input_dropout(_ScriptedProbe(), X[:2], y[:2]) == (0.0, {})


def test_select_input_dropout_probes_train_for_the_epochs_asked(monkeypatch):
    y = np.repeat([0, 1], 50)
    X = np.c_[y, np.zeros_like(y)].astype(float)
    monkeypatch.setattr(_ScriptedProbe, "fitted_epochs", [])
    select_input_dropout(_ScriptedProbe(max_epochs=60), X, y, random_state=0)
    select_input_dropout(_ScriptedProbe(max_epochs=60), X, y, max_epochs=15, random_state=0)
    assert _ScriptedProbe.fitted_epochs == [60] * 4 + [15] * 4


def test_auto_input_dropout_is_chosen_without_the_target(blobs):
    X, y, sd = blobs
    model = SRDCAdapter(**{**FAST, "input_dropout": "auto"}).fit(X, y, sample_domain=sd)
    assert set(model.input_dropout_scores_) == set(AUTO_INPUT_DROPOUT)
    assert model.input_dropout_ in AUTO_INPUT_DROPOUT
    assert getattr(model.net_.module_.input_dropout, "p", 0.0) == model.input_dropout_
    moved = X.copy()
    moved[sd < 0] += 5.0
    other = SRDCAdapter(**{**FAST, "input_dropout": "auto"}).fit(moved, y, sample_domain=sd)
    assert other.input_dropout_scores_ == model.input_dropout_scores_
    fixed = SRDCAdapter(**{**FAST, "input_dropout": 0.3}).fit(X, y, sample_domain=sd)
    assert fixed.input_dropout_ == 0.3 and fixed.input_dropout_scores_ == {}
