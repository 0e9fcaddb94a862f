"""Metrics for clustering across domains, retrieval, and target-domain scorers.

- Clustering (all ``O(n + k_true * k_pred)``, from the contingency matrix):
  :func:`cluster_accuracy` (Hungarian), :func:`nmi`, :func:`pairwise_precision_recall_f1`,
  :func:`pairwise_f1`, :func:`bcubed_precision_recall_f1`, :func:`bcubed_f1`,
  :func:`contingency_matrix`, :func:`apply_cluster_mapping`.
- Retrieval: :func:`precision_at_k` (standard and UCDIR's truncated variant),
  :func:`mean_average_precision`, and both directions of a two-domain embedding at once,
  :func:`cross_domain_retrieval_scores`.
- Scorers for ``GridSearchCV`` that score the target rows only: :func:`get_scorer`,
  :func:`get_scorer_names`, :func:`make_target_scorer`, :class:`TargetScorer` and the
  predefined ``target_*_scorer`` objects.
- Model selection without target labels: :func:`prediction_entropy`,
  :func:`soft_neighborhood_density`, :func:`kmeans_agreement`, :func:`batch_nuclear_norm`,
  :func:`class_ami` and their :class:`UnsupervisedScorer` objects
  (``get_scorer("unsupervised_snd")``, ...); on held-out source rows,
  :class:`SourceScorer` (``"source_accuracy"``, importance-weighted ``"source_iwv_accuracy"``,
  deep embedded validation ``"source_dev"``), :func:`density_ratio`,
  :func:`importance_weighted_score` and :func:`deep_embedded_validation_risk`.
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
from .retrieval import cross_domain_retrieval_scores, mean_average_precision, precision_at_k
from .scorers import (
    RoutedScorer,
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
from .source_validation import (
    SourceScorer,
    deep_embedded_validation_risk,
    density_ratio,
    importance_weighted_score,
    make_source_scorer,
)
from .unsupervised import (
    UnsupervisedScorer,
    batch_nuclear_norm,
    class_ami,
    kmeans_agreement,
    prediction_entropy,
    soft_neighborhood_density,
)

__all__ = [
    "RoutedScorer",
    "SourceScorer",
    "TargetScorer",
    "UnsupervisedScorer",
    "apply_cluster_mapping",
    "batch_nuclear_norm",
    "bcubed_f1",
    "bcubed_precision_recall_f1",
    "class_ami",
    "cluster_accuracy",
    "contingency_matrix",
    "cross_domain_retrieval_scores",
    "deep_embedded_validation_risk",
    "density_ratio",
    "get_scorer",
    "get_scorer_names",
    "importance_weighted_score",
    "kmeans_agreement",
    "make_source_scorer",
    "make_target_scorer",
    "mean_average_precision",
    "nmi",
    "pairwise_f1",
    "pairwise_precision_recall_f1",
    "precision_at_k",
    "prediction_entropy",
    "soft_neighborhood_density",
    "target_accuracy_scorer",
    "target_ari_scorer",
    "target_bcubed_f1_scorer",
    "target_cluster_accuracy_scorer",
    "target_nmi_scorer",
    "target_pairwise_f1_scorer",
]
