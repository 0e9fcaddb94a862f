"""CCN: learning to cluster from pairwise similarity, across tasks and across domains.

Hsu, Lv & Kira, "Learning to cluster in order to transfer across domains and tasks" (ICLR 2018),
and the MCL loss of Hsu et al. (ICLR 2019):

- :class:`PairwiseSimilarity` is the similarity network G: an encoder, the enumeration of all
  ``B^2`` ordered pairs of a batch and a pair head, trained with two-class cross-entropy
  (same class or not) on class-balanced batches of a labelled auxiliary set.
- :class:`CCNClusterer` (cross-task transfer) trains a clustering network on the unlabelled
  target alone, with G's binarised pair predictions as the targets of the learnable clustering
  objective (LCO, "KCL") or of MCL. The number of clusters may be set large: clusters left
  nearly empty are not counted in ``n_clusters_estimated_`` (NDC).
- :class:`CCNAdapter` (cross-domain transfer, CCN+) adds the same clustering term on the target
  rows of each batch to cross-entropy on labelled source rows; ``adversarial=True`` adds a
  domain classifier behind gradient reversal (CCN++). ``cluster_weight=0`` turns the clustering
  term off (with ``adversarial=True``: plain DANN).
"""

from .adapter import CCNAdapter
from .clusterer import CCNClusterer, n_clusters_estimate
from .similarity import ClassBalancedIterator, PairwiseSimilarity

__all__ = ["PairwiseSimilarity", "CCNClusterer", "CCNAdapter", "ClassBalancedIterator",
           "n_clusters_estimate"]
