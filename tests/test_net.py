import functools
import pickle

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from skdomainclust import DivergenceError, SourceOnlyClassifier
from skdomainclust._net import (
    DomainDataset,
    DomainNet,
    IndexBatchIterator,
    forward_in_chunks,
    resolve_device,
    resolve_optimizer,
    torch_seed,
)

from ._cases import make_shifted_blobs


def test_resolve_device():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_resolve_optimizer():
    assert resolve_optimizer("Adam") is torch.optim.Adam
    assert resolve_optimizer(torch.optim.SGD) is torch.optim.SGD
    with pytest.raises(ValueError, match="optimizer must be one of"):
        resolve_optimizer("lbfgs-ish")
    with pytest.raises(TypeError):
        resolve_optimizer(3)


def test_torch_seed_is_reproducible_and_restores_global_state():
    before = torch.random.get_rng_state()
    with torch_seed(7):
        a = torch.rand(3)
    with torch_seed(7):
        b = torch.rand(3)
    torch.testing.assert_close(a, b)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_batches_are_dicts_sliced_by_index():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = DomainDataset({"X": X, "sample_domain": np.r_[np.zeros(5), -np.ones(5)]},
                       y=np.arange(10))
    batches = list(IndexBatchIterator(ds, batch_size=4, shuffle=True))
    assert [len(b[0]["X"]) for b in batches] == [4, 4, 2]
    index = torch.cat([b[0]["index"] for b in batches])
    assert sorted(index.tolist()) == list(range(10))
    for xb, yb in batches:  # every field of a batch refers to the same rows
        torch.testing.assert_close(xb["X"][:, 0], 2.0 * xb["index"].float())
        torch.testing.assert_close(yb, xb["index"])
        assert torch.equal(xb["sample_domain"], torch.where(xb["index"] < 5, 0, -1))


@pytest.mark.parametrize("rows", [
    torch.tensor([7, 0, 3]), torch.tensor([7, 0, 3], dtype=torch.int32), slice(2, 6),
    torch.arange(10) % 3 == 0, 4,
], ids=["int64", "int32", "slice", "mask", "int"])
def test_every_kind_of_row_selection_gives_the_rows_of_plain_indexing(rows):
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = DomainDataset({"X": X, "sample_domain": np.arange(10) - 5}, y=np.arange(10) * 2)
    xb, yb = ds[rows]
    expected = torch.arange(10)[rows]
    torch.testing.assert_close(xb["X"], torch.as_tensor(X)[rows])
    assert torch.equal(xb["index"].long(), expected)
    assert torch.equal(xb["sample_domain"], expected - 5)
    assert torch.equal(yb, expected * 2)


def test_singleton_last_batch_is_dropped_in_training():
    ds = DomainDataset(np.zeros((9, 2), dtype=np.float32))
    assert [len(b[0]["X"]) for b in IndexBatchIterator(ds, 4, drop_last="singleton")] == [4, 4]
    assert len(IndexBatchIterator(ds, 4, drop_last=False)) == 3


def test_diverging_loss_stops_with_a_clear_error():
    X, y, sd = make_shifted_blobs()
    clf = SourceOnlyClassifier(lr=1e12, optimizer="sgd", max_epochs=20, random_state=0)
    with pytest.raises(DivergenceError, match="diverged"):
        clf.fit(X * 1e6, y, sample_domain=sd)


def test_verbose_shows_a_progress_bar_and_still_pickles(capsys):
    X, y, sd = make_shifted_blobs()
    clf = SourceOnlyClassifier(max_epochs=3, verbose=1, random_state=0).fit(X, y, sample_domain=sd)
    assert "epoch" in capsys.readouterr().err
    pickle.loads(pickle.dumps(clf))


def test_training_loss_falls_and_source_only_learns():
    X, y, sd = make_shifted_blobs(n_per_class=60, shift=0.3)
    clf = SourceOnlyClassifier(max_epochs=20, random_state=0).fit(X, y, sample_domain=sd)
    losses = clf.net_.history[:, "train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert clf.score(X, y, sample_domain=sd) > 0.8  # chance is 1/3


@pytest.mark.parametrize("batch_norm", [True, False])
def test_source_only_batch_norm_switch_builds_what_it_says(batch_norm):
    X, y, sd = make_shifted_blobs(n_per_class=30, shift=0.3)
    clf = SourceOnlyClassifier(batch_norm=batch_norm, max_epochs=2, random_state=0)
    clf.fit(X, y, sample_domain=sd)
    norms = [m for m in clf.net_.module_.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == (1 if batch_norm else 0)


def test_endless_batches_cycle_permutations_and_keep_batches_distinct_on_request():
    import itertools

    from skdomainclust._net import endless_batches

    rows = torch.arange(10, 15)
    # In order: the group is walked again and again, batches always full.
    batches = list(itertools.islice(endless_batches(rows, 3, shuffle=False), 4))
    assert [b.tolist() for b in batches] == [[10, 11, 12], [13, 14, 10], [11, 12, 13],
                                             [14, 10, 11]]
    # Shuffled: every row once per permutation.
    torch.manual_seed(0)
    drawn = torch.cat(list(itertools.islice(endless_batches(rows, 5), 3)))
    assert sorted(drawn.tolist()) == sorted(rows.tolist() * 3)
    # A group smaller than the batch: full batches repeat rows, distinct ones never do.
    assert len(next(endless_batches(rows[:2], 5))) == 5
    torch.manual_seed(1)
    for batch in itertools.islice(endless_batches(rows, 4, distinct=True), 20):
        assert len(batch) == 4 and len(set(batch.tolist())) == 4
    assert len(next(endless_batches(rows[:2], 5, distinct=True))) == 2


def test_forward_in_chunks_matches_one_pass_without_gradient():
    layer = torch.nn.Linear(3, 2)
    X = torch.randn(10, 3)
    out = forward_in_chunks(layer, X, chunk=4)
    torch.testing.assert_close(out, layer(X))
    assert not out.requires_grad
    pair = forward_in_chunks(lambda xb: (xb.sum(1), layer(xb)), X, chunk=3)
    torch.testing.assert_close(pair[0], X.sum(1))
    torch.testing.assert_close(pair[1], layer(X).detach())


class _TwoTerms(DomainNet):
    """Cross-entropy plus a weighted L2 penalty on the logits: two named terms."""

    def loss_terms(self, batch, **fit_params):
        Xi, yi = batch
        logits = self.infer(Xi)
        return {"ce": torch.nn.functional.cross_entropy(logits, yi),
                "penalty": 0.1 * logits.pow(2).mean()}


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, X, sample_domain=None, index=None):
        return self.linear(X)


def _xy(n=40):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def test_each_loss_term_is_logged_and_the_loss_is_their_sum():
    X, y = _xy()
    net = _TwoTerms(_Linear, max_epochs=3, batch_size=8, lr=0.1)
    net.fit({"X": X}, y)
    for row in net.history:
        for batch in row["batches"]:
            assert batch["train_loss"] == pytest.approx(batch["loss_ce"] + batch["loss_penalty"],
                                                       rel=1e-5)
        assert row["loss_ce"] == pytest.approx(np.mean([b["loss_ce"] for b in row["batches"]]))
    assert net.history[-1]["loss_ce"] < net.history[0]["loss_ce"]  # it learns


class _Interrupt(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt


def test_keyboard_interrupt_propagates_out_of_the_net():
    X, y = _xy()
    net = DomainNet(_Linear, max_epochs=50, batch_size=8, callbacks=[("stop", _Interrupt())])
    with pytest.raises(KeyboardInterrupt):
        net.fit({"X": X}, y)
    assert len(net.history) == 2


def test_a_finite_blow_up_raises_divergence_naming_the_epoch():
    X, y = _xy()
    net = DomainNet(_Linear, max_epochs=20, batch_size=8, lr=1e4, optimizer=torch.optim.SGD)
    with pytest.raises(DivergenceError, match=r"epoch \d+.*lr=10000"):
        net.fit({"X": X * 100}, y)


class _BatchCounter(Callback):
    """Counts the batch hooks it receives and the batch sizes it is shown."""

    def initialize(self):
        self.begins, self.sizes = 0, []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        self.begins += 1

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        self.sizes.append(len(batch[0]["X"]))
        assert loss is not None and loss.requires_grad  # the step dict reaches the hook


def test_the_lean_epoch_keeps_skorchs_history_and_calls_every_defined_batch_hook():
    X, y = _xy(40)
    counter = _BatchCounter()
    net = DomainNet(_Linear, max_epochs=2, batch_size=16, callbacks=[("count", counter)])
    net.fit({"X": X}, y)
    # 40 rows in batches of 16: 16, 16, 8 per epoch, both epochs.
    assert counter.begins == 6 and counter.sizes == [16, 16, 8] * 2
    for row in net.history:
        assert row["train_batch_count"] == 3
        assert [b["train_batch_size"] for b in row["batches"]] == [16, 16, 8]
        assert all(np.isfinite(b["train_loss"]) for b in row["batches"])
        # skorch's epoch mean of the batch losses, weighted by batch size.
        sizes = [b["train_batch_size"] for b in row["batches"]]
        losses = [b["train_loss"] for b in row["batches"]]
        assert row["train_loss"] == pytest.approx(np.average(losses, weights=sizes))
    assert not net._step  # nothing of the last step is kept after training


class _EvalInsideTheStep(DomainNet):
    """A loss that puts the module in eval mode mid-step, as target passes do."""

    def loss_terms(self, batch, **fit_params):
        self.modes_seen.append(self.module_.linear.training)
        loss = super().loss_terms(batch, **fit_params)
        self.module_.eval()
        return loss


def test_every_step_starts_in_training_mode_even_after_a_step_switched_to_eval():
    X, y = _xy(40)
    net = _EvalInsideTheStep(_Linear, max_epochs=2, batch_size=8)
    net.modes_seen = []
    net.fit({"X": X}, y)
    assert net.modes_seen == [True] * 10


def _fit_lean_and_skorchs(net_class, method):
    """Fit two nets seeded alike, one with skorch's own ``method`` in place of DomainNet's:
    ``[(batch losses, final weight)]`` of the lean net, then of skorch's."""
    X, y = _xy(40)
    results = []
    for lean in (True, False):
        net = net_class(_Linear, max_epochs=2, batch_size=8, lr=0.1)
        if not lean:
            setattr(net, method, functools.partial(getattr(NeuralNet, method), net))
        with torch_seed(0):
            net.fit({"X": X}, y)
        results.append(([b["train_loss"] for row in net.history for b in row["batches"]],
                        net.module_.linear.weight.detach().clone()))
    return results


@pytest.mark.parametrize("net_class, method", [(DomainNet, "run_single_epoch"),
                                               (_TwoTerms, "train_step")])
def test_the_lean_epoch_and_step_train_as_skorchs_own(net_class, method):
    # Same seed, same batches: the same loss batch by batch and the same weights at the end.
    (lean_losses, lean_weight), (losses, weight) = _fit_lean_and_skorchs(net_class, method)
    assert lean_losses == pytest.approx(losses, rel=1e-6)
    torch.testing.assert_close(lean_weight, weight)


class _GradientRecorder(Callback):
    """Records, at every ``on_grad_computed``, whether every parameter has a gradient."""

    def initialize(self):
        self.calls = []
        return self

    def on_grad_computed(self, net, named_parameters, batch=None, training=None, **kwargs):
        self.calls.append(all(p.grad is not None for _, p in named_parameters))


def test_on_grad_computed_reaches_the_callbacks_that_define_it_once_per_step():
    X, y = _xy(40)
    recorder = _GradientRecorder()
    net = DomainNet(_Linear, max_epochs=2, batch_size=8, callbacks=[("grads", recorder)])
    net.fit({"X": X}, y)
    assert recorder.calls == [True] * 10


def test_gradient_clipping_through_skorchs_callback_bounds_every_step():
    from skorch.callbacks import GradientNormClipping

    X, y = _xy(40)
    norms = []

    class _Norms(Callback):
        def on_batch_end(self, net, **kwargs):
            grads = [p.grad for p in net.module_.parameters()]
            norms.append(float(torch.stack([g.norm() for g in grads]).norm()))

    net = DomainNet(_Linear, max_epochs=2, batch_size=8, lr=0.1,
                    callbacks=[("clip", GradientNormClipping(1e-3)), ("norms", _Norms())])
    net.fit({"X": X * 100}, y)
    assert len(norms) == 10 and max(norms) <= 1e-3 * 1.001


def test_a_closure_optimizer_trains_and_each_step_logs_its_first_evaluation():
    X, y = _xy(40)
    evaluations = []

    class _CountingNet(DomainNet):
        def loss_terms(self, batch, **fit_params):
            terms = super().loss_terms(batch, **fit_params)
            evaluations.append(float(terms["loss"].detach()))
            return terms

    net = _CountingNet(_Linear, max_epochs=3, batch_size=40, lr=0.5,
                       optimizer=torch.optim.LBFGS, optimizer__max_iter=4)
    net.fit({"X": X}, y)
    logged = [b["train_loss"] for row in net.history for b in row["batches"]]
    assert len(evaluations) > len(logged) == 3  # L-BFGS evaluates the closure several times
    assert logged[0] == pytest.approx(evaluations[0])
    assert logged[-1] < logged[0]
