"""The shared skorch machinery: device choice, seeding, on-device batching and callbacks.

Every method trains through :class:`DomainNet`, a skorch ``NeuralNet`` whose batches are dicts
``{"X", "sample_domain", "index"}`` sliced from tensors that were moved to the device once. The
default skorch path collates samples one by one through a ``DataLoader``; for feature arrays that
fit in memory an epoch then costs several times the bare torch loop, while slicing by index on
the device costs almost nothing.
"""

import contextlib
import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import get_len
from skorch.utils import TeeGenerator

from .exceptions import DivergenceError

__all__ = [
    "DomainDataset",
    "IndexBatchIterator",
    "GroupedBatchIterator",
    "SourceTargetIterator",
    "DomainBalancedIterator",
    "PairedDomainIterator",
    "DomainNet",
    "EpochProgressBar",
    "apply_in_batches",
    "forward_in_chunks",
    "resolve_device",
    "resolve_optimizer",
    "seed_from_random_state",
    "torch_seed",
]


def resolve_device(device):
    """Turn ``"auto"`` into ``"cuda"`` when CUDA is available and ``"cpu"`` otherwise.

    Other values (``"cpu"``, ``"cuda:1"``, a ``torch.device``) are validated and returned as
    a string, so that the estimator's parameter itself is never changed.
    """
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available.")
    return str(parsed)


_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def resolve_optimizer(optimizer):
    """Map an optimizer name (``"adam"``, ``"adamw"``, ``"sgd"``) or class to the class."""
    if isinstance(optimizer, str):
        try:
            return _OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(
                f"optimizer must be one of {sorted(_OPTIMIZERS)} or a torch.optim.Optimizer "
                f"class, got {optimizer!r}."
            ) from None
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise TypeError(
        f"optimizer must be a name or a torch.optim.Optimizer class, got {optimizer!r}."
    )


def seed_from_random_state(random_state):
    """Draw one torch seed from an sklearn-style ``random_state`` (None, int or RandomState)."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def torch_seed(seed, device="cpu"):
    """Seed torch inside the block and restore the caller's global RNG state afterwards.

    Module initialisation, dropout and batch shuffling all draw from torch's global generators;
    forking them makes a fit reproducible from ``random_state`` without the side effect of
    reseeding the user's session.
    """
    devices = []
    if torch.device(device).type == "cuda":
        index = torch.device(device).index
        devices = [index if index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


#: Integer dtypes of the row-id tensors the iterators hand to :class:`DomainDataset`.
_ROW_IDS = (torch.int64, torch.int32)


class DomainDataset(torch.utils.data.Dataset):
    """In-memory dataset whose batches are dicts of tensors that already live on the device.

    Parameters
    ----------
    X : dict or array-like
        ``{"X": features, "sample_domain": ids}`` (missing ids mean "all target") or a bare
        feature array.
    y : array-like of int or None
        Integer labels (``-1`` for unlabelled rows).
    device : str
        Where the tensors are kept.
    """

    def __init__(self, X, y=None, device="cpu"):
        if isinstance(X, DomainDataset):
            X = X.tensors
        features = X["X"] if isinstance(X, dict) else X
        self.device = torch.device(device)
        # torch.as_tensor shares memory with float32 numpy input on the CPU: training code never
        # writes into batches in place, so the caller's array is safe and no copy is paid.
        self.X = torch.as_tensor(features, dtype=torch.float32, device=self.device)
        n = len(self.X)
        domains = X.get("sample_domain") if isinstance(X, dict) else None
        if domains is None:
            self.sample_domain = torch.full((n,), -1, dtype=torch.long, device=self.device)
        else:
            self.sample_domain = torch.as_tensor(domains, dtype=torch.long, device=self.device)
        self.index = torch.arange(n, device=self.device)
        self.y = None if y is None else torch.as_tensor(y, dtype=torch.long, device=self.device)

    @property
    def tensors(self):
        return {"X": self.X, "sample_domain": self.sample_domain}

    def __len__(self):
        return len(self.X)

    def __getitem__(self, rows):
        """Rows by index tensor (or slice, int, mask); returns ``(dict batch, y batch)`` like
        skorch expects."""
        if isinstance(rows, torch.Tensor) and rows.dtype in _ROW_IDS and rows.dim() == 1:
            # ``index_select`` rather than ``tensor[rows]``: advanced indexing takes a general
            # path that costs about four times as much (an epoch of 50k x 256 rows in batches
            # of 128 gathers in 25 ms instead of 7 ms on one CPU thread, ~5 % of a small MLP's
            # epoch). ``index`` is the row numbers themselves: no gather needed for it.
            batch = {"X": self.X.index_select(0, rows),
                     "sample_domain": self.sample_domain.index_select(0, rows), "index": rows}
            return batch, (None if self.y is None else self.y.index_select(0, rows))
        # A slice, an int, a mask: plain indexing.
        batch = {"X": self.X[rows], "sample_domain": self.sample_domain[rows],
                 "index": self.index[rows]}
        return batch, (None if self.y is None else self.y[rows])


class IndexBatchIterator:
    """Yield mini-batches of a :class:`DomainDataset` by slicing on its device.

    Parameters
    ----------
    dataset : DomainDataset
    batch_size : int
    shuffle : bool
        Draw a fresh permutation (from torch's global generator, seeded by the estimator).
    drop_last : bool or "singleton"
        Drop the incomplete last batch; ``"singleton"`` drops it only when it holds a single
        row, which batch-norm cannot normalise in training mode.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False):
        if not isinstance(dataset, DomainDataset):
            raise TypeError("IndexBatchIterator iterates over a DomainDataset.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last

    def _bounds(self):
        n, size = len(self.dataset), self.batch_size
        for start in range(0, n, size):
            stop = min(start + size, n)
            rows = stop - start
            droppable = self.drop_last is True or (self.drop_last == "singleton" and rows == 1)
            if rows < size and droppable and start > 0:  # never drop the only batch
                return
            yield start, stop

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(len(self.dataset), device=self.dataset.device)
            for start, stop in self._bounds():
                yield self.dataset[order[start:stop]]
        else:
            for start, stop in self._bounds():
                yield self.dataset[start:stop]

    def __len__(self):
        return sum(1 for _ in self._bounds())


def endless_batches(rows, size, *, shuffle=True, distinct=False):
    """Yield batches of ``size`` entries of ``rows`` forever, walking fresh permutations.

    The iterators that put several groups of rows in every batch (source and target, or one
    block per domain) draw each group from one of these streams, so a small group is cycled
    while a large one is walked through. Permutations come from torch's global generator,
    which the net's seeding controls.

    Parameters
    ----------
    rows : torch.Tensor of int64, shape (n,)
        Row ids of the group (on the device of the data).
    size : int
        Rows per batch.
    shuffle : bool, default=True
        Draw permutations; False walks ``rows`` in order, again and again.
    distinct : bool, default=False
        Never repeat a row within one batch: batches hold ``min(size, n)`` rows, and rows
        left over from one permutation are followed by the next permutation without them.
        Otherwise batches are always full, a group smaller than ``size`` repeating rows.
    """
    if distinct:
        size = min(size, len(rows))
    pending = rows[:0]
    while True:
        while len(pending) < size:
            order = (torch.randperm(len(rows), device=rows.device) if shuffle
                     else torch.arange(len(rows), device=rows.device))
            fresh = rows[order]
            if distinct and len(pending):
                fresh = fresh[~torch.isin(fresh, pending)]
            pending = torch.cat([pending, fresh])
        yield pending[:size]
        pending = pending[size:]


class GroupedBatchIterator:
    """Batches made of one block of rows from each of several groups, each group cycling alone.

    Every group walks fresh permutations of its rows (:func:`endless_batches`), so a small
    group is cycled while a large one is walked through, and a batch is the groups' blocks
    concatenated in order. Subclasses choose the groups, the block sizes and the epoch length
    (``__len__``): source and target (:class:`SourceTargetIterator`), every domain (ACIDS), two
    retrieval domains (UCDIR).

    Parameters
    ----------
    dataset : DomainDataset
    groups : sequence of LongTensor
        Row ids of each group, in batch order.
    sizes : sequence of int
        Rows of each group in a batch.
    shuffle : bool, default=True
        Draw permutations (torch's global generator); False walks the rows in order.
    distinct : bool, default=False
        Never repeat a row inside a block (a group smaller than its block gives all its rows);
        otherwise blocks are always full.
    """

    def __init__(self, dataset, groups, sizes, *, shuffle=True, distinct=False):
        self.dataset = dataset
        self.groups = list(groups)
        self.sizes = tuple(int(size) for size in sizes)
        self.shuffle = shuffle
        self.distinct = distinct

    def __len__(self):
        raise NotImplementedError

    def __iter__(self):
        streams = [endless_batches(rows, size, shuffle=self.shuffle, distinct=self.distinct)
                   for rows, size in zip(self.groups, self.sizes)]
        for _ in range(len(self)):
            yield self.dataset[torch.cat([next(stream) for stream in streams])]


class SourceTargetIterator(GroupedBatchIterator):
    """Batches of labelled source rows followed by target rows, each side cycling on its own.

    Every batch is full and the smaller side repeats. The adapters that train on both domains
    at once (SRDC, CCN+) iterate this way.

    Parameters
    ----------
    dataset : DomainDataset
        Labelled source rows have ``y >= 0`` and ``sample_domain >= 0``; target rows
        ``sample_domain < 0``.
    batch_size : int, default=64
        Rows of each side in a batch, unless the side's own size is given.
    shuffle : bool, default=True
        Draw permutations (torch's global generator); False walks the rows in order.
    drop_last : ignored
        Accepted for skorch's iterator interface; batches are always full.
    source_batch_size, target_batch_size : int or None, default=None
        Rows of each side in a batch (None: ``batch_size``).
    epoch_length : {"ceil", "floor"}, default="ceil"
        Batches per epoch: as many as the larger side needs to be seen once (``"ceil"``), or
        its number of full batches (``"floor"``, two cycling loaders with ``drop_last``, as in
        SRDC's code); at least one.
    """

    def __init__(self, dataset, batch_size=64, shuffle=True, drop_last=None,
                 source_batch_size=None, target_batch_size=None, epoch_length="ceil"):
        if not isinstance(dataset, DomainDataset) or dataset.y is None:
            raise TypeError("SourceTargetIterator iterates over a labelled DomainDataset.")
        if epoch_length not in ("ceil", "floor"):
            raise ValueError(f"epoch_length must be 'ceil' or 'floor', got {epoch_length!r}.")
        self.epoch_length = epoch_length
        source = torch.nonzero((dataset.y >= 0) & (dataset.sample_domain >= 0)).squeeze(1)
        target = torch.nonzero(dataset.sample_domain < 0).squeeze(1)
        sizes = [size if size is not None else batch_size
                 for size in (source_batch_size, target_batch_size)]
        super().__init__(dataset, (source, target), sizes, shuffle=shuffle)

    def __len__(self):
        if self.epoch_length == "floor":
            counts = (len(rows) // size for rows, size in zip(self.groups, self.sizes))
        else:
            counts = (-(-len(rows) // size) for rows, size in zip(self.groups, self.sizes))
        return max(1, *counts)


class DomainBalancedIterator(GroupedBatchIterator):
    """Batches holding ``batch_size`` rows of *every* domain of a :class:`DomainDataset`.

    ACIDS (Menapace et al., ECCV 2020) stores each batch contiguously by domain, the same
    number of rows per domain (54 of each of three sources in the authors' code), so that every
    domain's batch-norm slot sees a full batch and the domain-cluster joint has balanced rows.
    An epoch is ``mean_d ceil(N_d / batch_size)`` batches; each domain cycles through fresh
    permutations of its rows, so small domains are repeated and large ones fully visited on
    average.

    Parameters
    ----------
    dataset : DomainDataset
    batch_size : int
        Rows per domain in a batch.
    shuffle : bool
        Draw permutations (torch's global generator); False walks the rows in order.
    drop_last : ignored
        Accepted for skorch's iterator interface; batches are always full.
    """

    def __init__(self, dataset, batch_size=64, shuffle=True, drop_last=None):
        if not isinstance(dataset, DomainDataset):
            raise TypeError("DomainBalancedIterator iterates over a DomainDataset.")
        domains = dataset.sample_domain
        groups = [torch.nonzero(domains == d).squeeze(1) for d in torch.unique(domains)]
        super().__init__(dataset, groups, [int(batch_size)] * len(groups), shuffle=shuffle)
        self.batch_size = int(batch_size)

    def __len__(self):
        return max(1, int(np.mean([math.ceil(len(g) / self.batch_size) for g in self.groups])))


class PairedDomainIterator(GroupedBatchIterator):
    """Batches holding ``batch_size`` rows of domain A and ``batch_size`` rows of domain B.

    UCDIR (Hu & Lee, ECCV 2022) trains on such pairs of blocks.

    The dataset's ``sample_domain`` holds the slots (0 for A, 1 for B). An epoch is
    ``ceil(max(N_A, N_B) / batch_size)`` batches, as in the authors' loader (whose length is the
    larger domain's): each domain walks fresh random permutations of its rows, so the larger
    one is visited once and the smaller one is cycled. A domain with fewer than ``batch_size``
    rows contributes all its rows to every batch (no row twice in one batch).

    Parameters
    ----------
    dataset : DomainDataset
    batch_size : int
        Rows per domain in a batch.
    shuffle : bool
        Draw permutations (torch's global generator); False walks the rows in order.
    drop_last : ignored
        Accepted for skorch's iterator interface.
    """

    def __init__(self, dataset, batch_size=64, shuffle=True, drop_last=None):
        if not isinstance(dataset, DomainDataset):
            raise TypeError("PairedDomainIterator iterates over a DomainDataset.")
        slots = dataset.sample_domain
        groups = [torch.nonzero(slots == s).squeeze(1) for s in (0, 1)]
        if any(len(g) == 0 for g in groups):
            raise ValueError("PairedDomainIterator needs rows of both slots (0 and 1).")
        super().__init__(dataset, groups, [int(batch_size)] * 2, shuffle=shuffle, distinct=True)
        self.batch_size = int(batch_size)

    def __len__(self):
        return max(math.ceil(len(g) / self.batch_size) for g in self.groups)


def _batch_len(batch):
    """Rows of a training batch ``(X, y)``: a DomainDataset dict or any skorch input."""
    X = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(X, dict) and "X" in X:
        return len(X["X"])
    return get_len(X)


def _sum_terms(terms):
    """The total loss: the named terms added in order (the order fixes the float result)."""
    values = iter(terms.values())
    total = next(values)
    for value in values:
        total = total + value
    return total


class DomainNet(NeuralNet):
    """skorch ``NeuralNet`` over :class:`DomainDataset` batches: the one training step.

    A method says what its loss is made of by overriding :meth:`loss_terms`, which returns
    the named terms of a batch (weights applied); the step sums them in order, back-propagates,
    and logs each term (``loss_<name>``, the epoch mean) in ``history`` beside ``train_loss``,
    so a user sees every term's curve. The module's ``forward`` receives the batch dict as
    keyword arguments: ``forward(X, sample_domain, index)``.

    Training is guarded: a term that is not finite, a total loss that grows past
    ``divergence_factor`` times its first steps', or at the end of an epoch a parameter or
    buffer that is not finite or parameters whose norm grew past ``parameter_growth_factor``
    times their initial norm raise :class:`~skdomainclust.exceptions.DivergenceError`. The norm
    catches what a bounded loss (mutual information, contrast, a hinge) cannot show: weights
    exploding while the loss stays in range. And unlike skorch's own ``partial_fit``,
    ``KeyboardInterrupt`` is not swallowed: it leaves ``fit``, so the estimator never returns
    a half-trained model as if fitted.
    """

    #: A loss whose magnitude exceeds this factor times the largest of its first
    #: ``divergence_warmup_steps`` steps (or 1, whichever is larger) has diverged.
    divergence_factor = 1e4
    divergence_warmup_steps = 5
    #: Parameters whose L2 norm exceeds this factor times their norm at the start of training
    #: (or 1) have diverged; the estimators' fits grow it by 1-3x on the shared suite's case.
    parameter_growth_factor = 100.0

    def __init__(self, module, criterion=torch.nn.CrossEntropyLoss, *args, **kwargs):
        kwargs.setdefault("dataset", DomainDataset)
        kwargs.setdefault("iterator_train", IndexBatchIterator)
        kwargs.setdefault("iterator_valid", IndexBatchIterator)
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("iterator_train__drop_last", "singleton")
        kwargs.setdefault("train_split", None)
        kwargs.setdefault("verbose", 0)
        super().__init__(module, criterion, *args, **kwargs)

    def get_dataset(self, X, y=None):
        if isinstance(X, DomainDataset):
            return X
        return self.dataset(X, y, device=self.device)

    # -- the training step --------------------------------------------------------------------

    def loss_terms(self, batch, **fit_params):
        """Named terms of the loss of one training batch, ``{name: scalar tensor}``.

        The default is the criterion on the module's output (``get_loss``); methods override
        it with their own terms. The step adds them in the order given.
        """
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        return {"loss": self.get_loss(y_pred, yi, X=Xi, training=True)}

    # The step's terms and host-side total travel in ``_step``, a plain dict made when
    # training begins: skorch's ``NeuralNet.__setattr__`` inspects every value it is given,
    # which costs more than the bookkeeping itself when paid on every step.

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        terms = self.loss_terms(batch, **fit_params)
        loss = _sum_terms(terms)
        loss.backward()
        self._step["terms"] = terms
        return {"loss": loss, "y_pred": None}

    def train_step(self, batch, **fit_params):
        """One optimisation step: skorch's, with its per-step bookkeeping paid only when used.

        Like skorch, the gradients are computed in a closure handed to every optimizer's
        ``step`` (so closure optimizers such as L-BFGS work), and ``on_grad_computed`` reaches
        the callbacks that define it (gradient clipping, ...); skorch builds that notification,
        a generator over the parameters and a step accumulator on every step even when no
        callback listens. Every term is then checked finite and logged in one host copy.
        """
        grad_hooks = self._step.get("grad_hooks")
        if grad_hooks is None:
            grad_hooks = self._step["grad_hooks"] = self._callback_hooks("on_grad_computed")
        first = []

        def closure():
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)
            terms = self._step.pop("terms", None)
            if not first:  # skorch's FirstStepAccumulator: the first evaluation is the step's
                first.append((step, terms))
            if grad_hooks:
                params = TeeGenerator(self.get_all_learnable_params())
                for hook in grad_hooks:
                    hook(self, named_parameters=params, batch=batch, training=True)
            return step["loss"]

        self._step_optimizer(closure)
        step, terms = first[0]
        self._log_terms(terms or {"loss": step["loss"]}, step["loss"])
        return step

    def _log_terms(self, terms, loss):
        """Check the step's terms finite, log each in the batch row, keep the host total."""
        if len(terms) == 1:
            total = loss.item()
            values = [total]
        else:
            # One device-to-host copy for every term and the total (each .item() would be a
            # sync); the epoch loop records the total from it instead of syncing again.
            *values, total = torch.stack([value.detach().reshape(())
                                          for value in (*terms.values(), loss)]).tolist()
        row = self._step.get("row")
        for name, value in zip(terms, values):
            if not math.isfinite(value):
                self._diverged(f"the {name!r} loss term became {value}")
            if len(terms) > 1:
                if row is None:
                    self.history.record_batch(f"loss_{name}", value)
                else:
                    row[f"loss_{name}"] = value
        self._check_growth(total)
        self._step["loss"] = total

    def infer(self, x, **fit_params):
        # Batches of a DomainDataset are dicts of tensors already on the device: skorch's
        # ``to_tensor`` walk over them on every step would change nothing.
        if isinstance(x, dict):
            return self.module_(**self._merge_x_and_fit_params(x, fit_params))
        return super().infer(x, **fit_params)

    def _set_training(self, training=True):
        # skorch calls this before every step and walks every submodule; when all of them are
        # already in the asked mode (the usual case inside an epoch) the walk changes nothing.
        # A step that put some part in eval mode still has it reset before the next one.
        submodules = getattr(self, "_step", {}).get("submodules")
        if submodules is not None and all(sub.training == training for sub in submodules):
            return
        super()._set_training(training)

    def _check_growth(self, loss):
        scale = self.loss_scale_
        if len(scale) < self.divergence_warmup_steps:
            scale.append(abs(loss))
            return
        bound = self.divergence_factor * max(max(scale), 1.0)
        if abs(loss) > bound:
            self._diverged(f"the loss grew to {loss:.3g}, from at most {max(scale):.3g} in "
                           f"its first {len(scale)} steps")

    def _diverged(self, what):
        raise DivergenceError(
            f"Training diverged in epoch {len(self.history)}: {what}. Lower the learning "
            f"rate (lr={self.lr}), standardise the features, or check the input scale."
        )

    # -- the loop -----------------------------------------------------------------------------

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        # skorch's partial_fit catches KeyboardInterrupt and returns as if training had
        # finished; here it propagates (the estimator's fit then restores its state).
        if not self.initialized_:
            self.initialize()
        routing_method = fit_params.pop("_routing_method", "partial_fit")
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, _routing_method=routing_method, **fit_params)
        finally:
            self.notify("on_train_end", X=X, y=y)
        return self

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch, lean for training: the same history and callbacks, less per step.

        The batch hooks are called on the callbacks that define them (skorch calls every
        callback's no-op on every batch), the batch's history row is opened and filled
        directly (skorch's ``History`` resolves ``[-1]["batches"][-1]`` on every record), the
        batch size is read from the batch's feature tensor, and the loss recorded is the value
        :meth:`train_step` already copied to the host. Validation epochs take skorch's loop.
        """
        if iterator is None or not training:
            return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        begin = self._callback_hooks("on_batch_begin")
        end = self._callback_hooks("on_batch_end")
        # The net's own batch hooks are skorch's (open a row; nothing) unless overridden.
        own_begin = type(self).on_batch_begin is not NeuralNet.on_batch_begin
        if type(self).on_batch_end is not NeuralNet.on_batch_end:
            end.insert(0, self.on_batch_end)
        rows, batch_count = self.history[-1]["batches"], 0
        for batch in iterator:
            if own_begin:
                self.on_batch_begin(self, batch=batch, training=training)
            else:
                rows.append({})
            row = self._step["row"] = rows[-1]
            for hook in begin:
                hook(self, batch=batch, training=training)
            self._step.pop("loss", None)
            step = step_fn(batch, **fit_params)
            loss = self._step.pop("loss", None)
            if loss is None:  # a step_fn that did not go through train_step
                loss = step["loss"].item()
            row[prefix + "_loss"] = loss
            row[prefix + "_batch_size"] = _batch_len(batch)
            for hook in end:
                hook(self, batch=batch, training=training, **step)
            batch_count += 1
        self._step.pop("row", None)
        self.history.record(prefix + "_batch_count", batch_count)

    def _callback_hooks(self, name):
        """The ``name`` hooks of the callbacks that define one (inherited no-ops left out)."""
        default = getattr(Callback, name)
        return [getattr(cb, name) for _, cb in self.callbacks_
                if getattr(type(cb), name) is not default]

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.loss_scale_ = []
        self._step = {}
        self.parameter_scale_ = self._parameter_norm()

    def _parameter_norm(self):
        with torch.no_grad():
            norms = [p.detach().double().norm() for p in self.module_.parameters()]
            return float(torch.stack(norms).norm()) if norms else 0.0

    def on_epoch_begin(self, net, **kwargs):
        super().on_epoch_begin(net, **kwargs)
        # Listed once an epoch, so a part added between epochs is walked too.
        modules = [getattr(self, name + "_") for name in self._modules + self._criteria]
        self._step["submodules"] = [sub for module in modules
                                    if isinstance(module, torch.nn.Module)
                                    for sub in module.modules()]

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        self._step = {}  # nothing of the last step travels with a pickled net

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        row = self.history[-1]
        names = {key for batch in row["batches"] for key in batch if key.startswith("loss_")}
        for name in sorted(names):
            values = [batch[name] for batch in row["batches"] if name in batch]
            self.history.record(name, float(np.mean(values)))
        # The parameters' norm is finite exactly when every parameter is: one reduction, and
        # the parameters are searched by name only when it is not.
        norm, initial = self._parameter_norm(), self.parameter_scale_
        suspects = [*(self.module_.named_parameters() if not math.isfinite(norm) else ()),
                    *self.module_.named_buffers()]
        for name, tensor in suspects:
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                self._diverged(f"the module's {name!r} holds non-finite values")
        if norm > self.parameter_growth_factor * max(initial, 1.0):
            self._diverged(f"the parameters' norm grew from {initial:.3g} to {norm:.3g}")

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The criterion on ``(y_pred, y_true)`` (the default :meth:`loss_terms`)."""
        return self.criterion_(y_pred, y_true)


class EpochProgressBar(Callback):
    """A tqdm bar over epochs showing the last training loss (``verbose`` estimators)."""

    def __init__(self, desc=None):
        self.desc = desc

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=net.max_epochs, desc=self.desc, unit="epoch", leave=False)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is not None and math.isfinite(loss):
            self.bar_.set_postfix(loss=f"{loss:.4f}")
        self.bar_.update(1)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        bar = getattr(self, "bar_", None)
        if bar is not None:
            bar.close()
        # The bar holds a file handle: it must not travel with a pickled estimator.
        self.bar_ = None


def forward_in_chunks(fn, X, chunk=4096):
    """``fn`` over row chunks of the tensor ``X``, without gradient, concatenated on X's device.

    The per-epoch passes over all training rows (k-means inputs, kNN graphs, memory banks) run
    on the device and stay there; :func:`apply_in_batches` is the inference path that takes
    arrays and returns CPU tensors. ``fn`` returns a tensor or a tuple of tensors.
    """
    with torch.no_grad():
        parts = [fn(X[start:start + chunk]) for start in range(0, len(X), chunk)]
    if parts and isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


def apply_in_batches(fn, X, *, sample_domain=None, batch_size=1024, device="cpu"):
    """Run ``fn(X_batch, sample_domain_batch)`` over ``X`` without gradients and concatenate.

    ``fn`` returns a tensor or a tuple of tensors; results come back on the CPU. The caller
    chooses train or eval mode for its modules: inference code needs both (e.g. CCN keeps the
    similarity network's batch-norm in train mode on the target).
    """
    n = len(X)
    domains = (np.full(n, -1, dtype=np.int64) if sample_domain is None
               else np.asarray(sample_domain, dtype=np.int64))
    outputs = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            xb = torch.as_tensor(X[start:start + batch_size], dtype=torch.float32, device=device)
            db = torch.as_tensor(domains[start:start + batch_size], device=device)
            out = fn(xb, db)
            if isinstance(out, tuple):
                outputs.append(tuple(o.detach().cpu() for o in out))
            else:
                outputs.append(out.detach().cpu())
    if not outputs:
        raise ValueError("Cannot run inference on zero rows.")
    if isinstance(outputs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outputs))
    return torch.cat(outputs)
