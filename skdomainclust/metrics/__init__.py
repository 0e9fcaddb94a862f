"""Metrics for clustering across domains, retrieval, and target-domain scorers.

- Clustering (all ``O(n + k_true * k_pred)``, from the contingency matrix):
  :func:`cluster_accuracy` (Hungarian), :func:`nmi`, :func:`pairwise_precision_recall_f1`,
  :func:`pairwise_f1`, :func:`bcubed_precision_recall_f1`, :func:`bcubed_f1`,
  :func:`contingency_matrix`, :func:`apply_cluster_mapping`.
- Retrieval: :func:`precision_at_k` (standard and UCDIR's truncated variant),
  :func:`mean_average_precision`.
- Scorers for ``GridSearchCV`` that score the target rows only: :func:`get_scorer`,
  :func:`get_scorer_names`, :func:`make_target_scorer`, :class:`TargetScorer` and the
  predefined ``target_*_scorer`` objects.
"""

from ._contingency import contingency_matrix
from .clustering import (
    apply_cluster_mapping,
    bcubed_f1,
    bcubed_precision_recall_f1,
    cluster_accuracy,
    nmi,
    pairwise_f1,
    pairwise_precision_recall_f1,
)
from .retrieval import mean_average_precision, precision_at_k
from .scorers import (
    TargetScorer,
    get_scorer,
    get_scorer_names,
    make_target_scorer,
    target_accuracy_scorer,
    target_ari_scorer,
    target_bcubed_f1_scorer,
    target_cluster_accuracy_scorer,
    target_nmi_scorer,
    target_pairwise_f1_scorer,
)

__all__ = [
    "TargetScorer",
    "apply_cluster_mapping",
    "bcubed_f1",
    "bcubed_precision_recall_f1",
    "cluster_accuracy",
    "contingency_matrix",
    "get_scorer",
    "get_scorer_names",
    "make_target_scorer",
    "mean_average_precision",
    "nmi",
    "pairwise_f1",
    "pairwise_precision_recall_f1",
    "precision_at_k",
    "target_accuracy_scorer",
    "target_ari_scorer",
    "target_bcubed_f1_scorer",
    "target_cluster_accuracy_scorer",
    "target_nmi_scorer",
    "target_pairwise_f1_scorer",
]
