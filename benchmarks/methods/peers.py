"""Peer rows: skada, the scikit-learn domain-adaptation library a user would otherwise pick.

Measured in the same run, on the same tasks and preprocessing as every other row, so each
method of this library sits beside its peers. Needs the ``benchmark`` extra (``skada``); when
skada is absent every peer row is skipped with a one-line notice and records nothing.

Deep rows (``skada.deep``, version 0.6) share one network, the same MLP as
``SourceOnlyClassifier``'s default (read from its defaults: ``Linear(d, 256) - ReLU -
Dropout(0.2)`` then a linear head), trained on its schedule (Adam, lr 1e-3, weight decay 1e-4,
batch 64, 50 epochs, no internal validation split); each method keeps skada's own defaults
for its adaptation term (``reg=1``; MCC ``T=1``):

- ``skada SourceOnly (deep)``: cross-entropy on the source rows only.
- ``skada DANN (deep, sigmoid head)``: the domain classifier is skada's DANN head
  (``Linear(256, 100) - BatchNorm - ReLU - Linear(100, 1)``) ending in a *sigmoid*. skada 0.6's
  default ``DomainClassifier`` ends in a softmax over its single logit, whose output is always
  1: the BCE domain loss is then constant, the gradient reversal passes nothing, and DANN trains
  exactly as source-only. The row says so in its name.
- ``skada DeepCoral (deep)``: CORAL loss on the hidden layer.
- ``skada MCC (deep)``: minimum class confusion on the logits.

Shallow rows, on ``LogisticRegression(max_iter=1000)`` like the source-only baseline:
``skada CORAL + LR`` (Ledoit-Wolf shrinkage, skada's default) and ``skada JDOT + LR``
(``alpha=0.5``, multinomial loss, skada's defaults).
"""

import functools
import warnings

import numpy as np
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from skdomainclust import SourceOnlyClassifier
from skdomainclust.nn import build_encoder

from ..registry import Method, Outcome

FAMILIES = ["digits_shift", "surf", "decaf", "digits", "office31"]
QUICK = ["surf:amazon->webcam", "decaf:webcam->dslr"]


@functools.cache
def _skada():
    """The skada package, or None (with a one-line notice, once) when it is not installed."""
    try:
        # skada turns scikit-learn's metadata routing on for the whole process when imported;
        # keep the process as it was (the peers turn routing on only around their own calls).
        with sklearn.config_context():
            import skada
            import skada.deep
    except ImportError:
        warnings.warn("skada is not installed (pip install -e '.[benchmark]'): the peer rows "
                      "are skipped.", stacklevel=2)
        return None
    return skada


class PeerMLP(nn.Module):
    """``SourceOnlyClassifier``'s default network, layer for layer (read from its defaults, so
    the two can never drift apart) and a linear head."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        defaults = SourceOnlyClassifier().get_params()
        self.features, width = build_encoder(None, (n_features,),
                                             hidden_dims=defaults["hidden_dims"],
                                             dropout=defaults["dropout"],
                                             batch_norm=defaults["batch_norm"])
        self.head = nn.Linear(width, n_classes)

    def forward(self, X, sample_weight=None):
        return self.head(self.features(X))


class SigmoidDomainClassifier(nn.Module):
    """skada's DANN domain head with a sigmoid output, so that its BCE loss has a gradient."""

    def __init__(self, n_features, hidden=100):
        super().__init__()
        self.classifier = nn.Sequential(nn.Linear(n_features, hidden), nn.BatchNorm1d(hidden),
                                        nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, x, sample_weight=None):
        from skada.deep.modules import GradientReversalLayer

        return self.classifier(GradientReversalLayer.apply(x, 1.0)).squeeze(-1)


def _training():
    """skorch settings of every deep peer: ``SourceOnlyClassifier``'s schedule (Adam)."""
    defaults = SourceOnlyClassifier().get_params()
    if defaults["optimizer"] != "adam":
        raise ValueError("the peers follow SourceOnlyClassifier's optimizer, expected Adam")
    return dict(optimizer=torch.optim.Adam, optimizer__weight_decay=defaults["weight_decay"],
                lr=defaults["lr"], batch_size=defaults["batch_size"],
                max_epochs=defaults["max_epochs"], train_split=None, verbose=0)


def _encode(y, sample_domain):
    """Source labels as 0..n_classes-1 (target rows -1); the class values for decoding."""
    source = sample_domain >= 0
    classes, codes = np.unique(y[source], return_inverse=True)
    encoded = np.full(len(y), -1, dtype=np.int64)
    encoded[source] = codes
    return classes, encoded


def _peer(run):
    """A peer's ``run``: skipped (None) without skada, else called with the skada package and
    scikit-learn's metadata routing on, as skada expects (and only around its own calls)."""
    @functools.wraps(run)
    def peer(task, X, y, sample_domain, seed):
        skada = _skada()
        if skada is None:
            return None
        with sklearn.config_context(enable_metadata_routing=True):
            return run(skada, task, X, y, sample_domain, seed)

    return peer


def _run_deep(method):
    @_peer
    def run(skada, task, X, y, sample_domain, seed):
        deep = skada.deep
        classes, encoded = _encode(y, sample_domain)
        training = _training()
        # skorch seeds nothing itself: seed the global generator for the peer (before the
        # network is built: it draws its initial weights), as a skada user would, and restore
        # it so that the rows after this one are unaffected.
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            module = PeerMLP(X.shape[1], len(classes))
            if method == "SourceOnly":
                net = deep.SourceOnly(module, **training)
            elif method == "DANN":
                width = module.head.in_features
                net = deep.DANN(module, "features", reg=1,
                                domain_classifier=SigmoidDomainClassifier(width), **training)
            elif method == "DeepCoral":
                net = deep.DeepCoral(module, "features", reg=1, **training)
            elif method == "MCC":
                net = deep.MCC(module, "head", reg=1, T=1, **training)
            else:
                raise KeyError(method)
            X32 = np.ascontiguousarray(X, dtype=np.float32)
            net.fit(X32, encoded, sample_domain=sample_domain)
            target = sample_domain < 0
            predicted = net.predict(X32[target], sample_domain=sample_domain[target],
                                    allow_source=False)
        finally:
            torch.random.set_rng_state(state)
        return Outcome(labels=classes[np.asarray(predicted, dtype=np.int64)])

    run.__doc__ = f"skada.deep.{method} on the shared MLP (see the module docstring)."
    return run


def _run_shallow(method):
    @_peer
    def run(skada, task, X, y, sample_domain, seed):
        base = LogisticRegression(max_iter=1000, random_state=seed)
        source = sample_domain >= 0
        labels = np.where(source, y, -1)
        if method == "CORAL":
            model = skada.CORAL(base_estimator=base)
        else:
            model = skada.JDOTClassifier(base_estimator=base)
        model.fit(X.astype(np.float64), labels, sample_domain=sample_domain)
        target = sample_domain < 0
        return Outcome(labels=model.predict(X[target].astype(np.float64),
                                            sample_domain=sample_domain[target]))

    run.__doc__ = f"skada {method} with LogisticRegression(max_iter=1000)."
    return run


METHODS = [
    Method(name, run, {"quick": QUICK, "full": FAMILIES}, labels_are_classes=True,
           baseline=True)
    for name, run in [
        ("skada SourceOnly (deep)", _run_deep("SourceOnly")),
        ("skada DANN (deep, sigmoid head)", _run_deep("DANN")),
        ("skada DeepCoral (deep)", _run_deep("DeepCoral")),
        ("skada MCC (deep)", _run_deep("MCC")),
        ("skada CORAL + LR", _run_shallow("CORAL")),
        ("skada JDOT + LR", _run_shallow("JDOT")),
    ]
]
