"""The clustering network of CCN, CCN+ and CCN++, and where its pair targets come from.

Hsu, Lv & Kira (ICLR 2018): an encoder and a linear head to K outputs, trained with the
learnable clustering objective (or MCL, Hsu et al., ICLR 2019) on pairs scored by the
similarity network G or a user's callable; CCN+ adds cross-entropy on labelled source rows and
CCN++ a domain classifier behind gradient reversal.
"""

import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._net import seed_from_random_state
from .._params import HasMethods, StrOptions
from ..losses.adversarial import domain_adversarial_loss
from ..losses.lco import kcl_loss, mcl_loss
from ..nn import MLP, dann_lambda, grad_reverse
from ..nn.batchnorm import batchnorm_train_mode
from ..nn.pairs import pair_probabilities
from ..nn.views import IdentityView
from ._training import TrainingNet
from .similarity import PairwiseSimilarity, _prepared_embeddings

__all__ = ["CCNNet", "ClusterModule", "NETWORK_CONSTRAINTS", "SameInputCluster",
           "resolve_similarity"]

#: Constraints of the parameters the clustering estimators share.
NETWORK_CONSTRAINTS = {
    # A PairwiseSimilarity (or sklearn.frozen.FrozenEstimator around one), or a callable.
    "similarity": [None, callable, HasMethods(["fit"])],
    "loss": [StrOptions({"kcl", "mcl"})],
    "similarity_bn": [StrOptions({"batch", "adapt", "frozen"})],
    "geometry": [None, StrOptions({"kmeans"})],
}


# -- module ------------------------------------------------------------------------------------


class ClusterModule(nn.Module):
    """Encoder, linear head to K outputs, optional augmentation and domain classifier."""

    def __init__(self, encoder, n_features, n_outputs, augment=None, domain_hidden_dims=None,
                 domain_dropout=0.5):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(n_features, n_outputs)
        self.augment = augment if augment is not None else IdentityView()
        self.domain_classifier = (
            None if domain_hidden_dims is None else
            MLP(n_features, domain_hidden_dims, out_features=2, batch_norm=False,
                dropout=domain_dropout)
        )

    def forward(self, X, sample_domain=None, index=None):
        return self.head(self.encoder(X))


# -- similarity sources ------------------------------------------------------------------------


class _NetworkSimilarity:
    """Binarised pair predictions of (a private copy of) G's module during training.

    ``bn="batch"`` runs G on every training batch (as the clustering network sees it,
    augmentation included) with batch-norm in training mode, as the authors do. ``"adapt"``
    and ``"frozen"`` embed the rows once (statistics re-estimated on them, or G's own); up to
    ``max_cached`` rows, the whole binary ``(n, n)`` matrix is computed once as well (one byte
    a pair), otherwise each batch's pairs are scored from the cached embeddings.
    """

    max_cached = 8192

    def __init__(self, module, bn, X, batch_size):
        self.module, self.h, self.matrix = None, None, None
        if bn == "batch":
            self.module = batchnorm_train_mode(copy.deepcopy(module))
            return
        self.module, self.h = _prepared_embeddings(module, X, bn, batch_size)
        if len(X) <= self.max_cached:
            self.matrix = torch.empty((len(X), len(X)), dtype=torch.bool, device=X.device)
            for rows, prob in pair_probabilities(self.module.head, self.h):
                self.matrix[rows] = prob > 0.5

    def __call__(self, X_seen, X_raw, rows):
        if self.matrix is not None:
            return self.matrix[rows[:, None], rows[None, :]].to(X_seen.dtype)
        with torch.no_grad():
            if self.h is None:
                logits = self.module.head(self.module.encoder(X_seen))
            else:
                logits = self.module.head(self.h[rows])
            return (logits[..., 1] > logits[..., 0]).to(X_seen.dtype)


class _CallableSimilarity:
    """A user function ``similarity(X_batch) -> (B, B)`` on the un-augmented rows."""

    def __init__(self, function):
        self.function = function

    def __call__(self, X_seen, X_raw, rows):
        out = self.function(X_raw.detach().cpu().numpy())
        simi = torch.as_tensor(np.asarray(out, dtype=np.float32), device=X_seen.device)
        n = len(X_raw)
        if simi.shape != (n, n):
            raise ValueError(f"similarity(X_batch) must return a ({n}, {n}) array for a batch "
                             f"of {n} rows, got shape {tuple(simi.shape)}.")
        if not torch.isfinite(simi).all() or simi.min() < 0 or simi.max() > 1:
            raise ValueError("similarity(X_batch) must return values in [0, 1].")
        return simi.to(X_seen.dtype)


class SameInputCluster:
    """Pairs count as similar only inside one input cluster (``geometry="kmeans"``).

    ``s_ij = G_ij * 1[c_i == c_j]`` with ``c`` the k-means labels of the target's input rows:
    G may still split an input cluster, never join two (the way a G that does not transfer
    fails).
    """

    def __init__(self, source, input_labels):
        self.source = source
        self.input_labels = input_labels

    def __call__(self, X_seen, X_raw, rows):
        clusters = self.input_labels[rows]
        same = (clusters[:, None] == clusters[None, :]).to(X_seen.dtype)
        return self.source(X_seen, X_raw, rows) * same


def _unwrap_similarity(similarity):
    """``(pairwise_similarity or None, callable or None)`` from a ``similarity`` parameter."""
    inner = getattr(similarity, "estimator", None)  # sklearn.frozen.FrozenEstimator
    if isinstance(inner, PairwiseSimilarity):
        similarity = inner
    if similarity is None or isinstance(similarity, PairwiseSimilarity):
        return similarity, None
    if callable(similarity):
        return None, similarity
    raise TypeError("similarity must be None, a PairwiseSimilarity (fitted or not, or wrapped "
                    f"in sklearn.frozen.FrozenEstimator) or a callable, got {similarity!r}.")


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def resolve_similarity(owner, data, X_target):
    """The similarity source of a fit, fitting G on the labelled source rows when needed.

    Returns ``(source, fitted_G or None)``.
    """
    network, function = _unwrap_similarity(owner.similarity)
    if function is not None:
        return _CallableSimilarity(function), None
    if network is None or not _is_fitted(network):
        if not data.labelled_mask.any():
            raise ValueError(
                f"{type(owner).__name__} needs a similarity: pass a fitted PairwiseSimilarity "
                "(or a callable) as `similarity`, or labelled source rows to fit one on "
                "(No labelled source rows: every row is target or masked with y == -1)."
            )
        network = clone(network) if network is not None else PairwiseSimilarity(
            device=owner.device)
        if network.random_state is None:
            network.set_params(random_state=seed_from_random_state(owner.random_state))
        network.fit(data.X, data.y, sample_domain=data.sample_domain)
    if X_target.shape[1] != network.n_features_in_:
        raise ValueError(
            f"The similarity network was fitted on {network.n_features_in_} features (or "
            f"channels), X has {X_target.shape[1]}: fit it on the same representation."
        )
    module = network.net_.module_
    device = next(module.parameters()).device
    module = copy.deepcopy(module).to(owner.device_) if str(device) != owner.device_ else module
    X_t = torch.as_tensor(X_target, device=owner.device_)
    return _NetworkSimilarity(module, owner.similarity_bn, X_t, 1024), network


# -- the clustering network (CCN, CCN+, CCN++) -------------------------------------------------


# -- training ----------------------------------------------------------------------------------


class CCNNet(TrainingNet):
    """One step of CCN / CCN+ / CCN++ on a batch of labelled source and target rows.

    ``loss = CE(source) + cluster_weight * LCO(target) [+ domain CE through GRL]``: the
    target rows' similarity comes from ``similarity(X_seen, X_raw, target_rows)``.
    """

    def __init__(self, *args, similarity=None, loss="kcl", margin=2.0, cluster_weight=1.0,
                 adversarial=False, adversarial_weight=1.0, target_offset=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.similarity = similarity
        self.loss = loss
        self.margin = margin
        self.cluster_weight = cluster_weight
        self.adversarial = adversarial
        self.adversarial_weight = adversarial_weight
        self.target_offset = target_offset

    def cluster_loss(self, prob, simi):
        if self.loss == "mcl":
            return mcl_loss(prob, simi)
        return kcl_loss(prob, simi, margin=self.margin)

    def loss_terms(self, batch, **fit_params):
        progress = self._advance()
        Xi, yi = batch
        module = self.module_
        X = Xi["X"]
        target = Xi["sample_domain"] < 0
        source = ~target if yi is None else (~target & (yi >= 0))
        n_target = int(target.sum())
        X_seen = X
        if n_target:
            X_seen = X.clone()
            X_seen[target] = module.augment(X[target])
        features = module.encoder(X_seen)
        logits = module.head(features)
        terms = {}
        if source.any():
            terms["source"] = F.cross_entropy(logits[source], yi[source])
        if self.cluster_weight and n_target:
            simi = self.similarity(X_seen[target], X[target],
                                   Xi["index"][target] - self.target_offset)
            prob = torch.softmax(logits[target], dim=1)
            terms["cluster"] = self.cluster_weight * self.cluster_loss(prob, simi)
        if self.adversarial and n_target and source.any():
            rows = source | target
            coeff = self.adversarial_weight * dann_lambda(progress)
            domain_logits = module.domain_classifier(grad_reverse(features[rows], coeff))
            terms["domain"] = domain_adversarial_loss(domain_logits, source[rows])
        return terms or {"none": logits.sum() * 0.0}
