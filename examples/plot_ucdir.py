"""
UCDIR: cross-domain retrieval without labels
============================================

:class:`~skdomainclust.UCDIRRetriever` learns one embedding for two unlabelled domains
(Office-Caltech10 amazon product photos and webcam photos): instance contrast within each
domain, cluster-wise contrast against per-domain prototypes, and a distance-of-distance loss
that aligns the two domains' prototype structures. A webcam photo then retrieves amazon photos
of the same object class, and ``predict`` assigns every row to a shared prototype.
"""

import matplotlib.pyplot as plt
import numpy as np

from skdomainclust import UCDIRRetriever
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.metrics import cluster_accuracy, cross_domain_retrieval_scores
from skdomainclust.plotting import plot_confusion_matrix, plot_domains_and_clusters

data = load_office_caltech_surf()
X, y, sample_domain = stack_domains(data, source="amazon", target="webcam")
in_amazon = sample_domain >= 0

# %%
# No labels reach ``fit``: the two domains are told apart by ``sample_domain`` only. The labels
# score retrieval afterwards, against raw features as the no-learning baseline.
model = UCDIRRetriever(n_clusters=10, random_state=0).fit(X, sample_domain=sample_domain)
for name, embedding in [("raw features", X), ("UCDIR", model.transform(X))]:
    scores = cross_domain_retrieval_scores(embedding, y, in_amazon, k=(1, 5))
    print(f"{name:>12}: P@1 {100 * scores['P@1']:.1f}%, P@5 {100 * scores['P@5']:.1f}%, "
          f"mAP {100 * scores['mAP']:.1f}%")

# %%
# The five amazon photos nearest to the first webcam photo, and their classes (``kneighbors``
# returns row numbers of the ``X`` given to ``fit``, all from the other domain).
query = np.flatnonzero(~in_amazon)[0]
distances, neighbours = model.kneighbors(X[query:query + 1], n_neighbors=5, sample_domain=-1)
print("query class:", data.target_names[y[query]])
print("retrieved:", [str(data.target_names[y[i]]) for i in neighbours[0]])

# %%
# Prototype clusters of the webcam rows matched to classes, and the shared embedding.
labels = model.predict(X)
target = ~in_amazon
print(f"webcam prototype ACC {100 * cluster_accuracy(y[target], labels[target]):.1f}%")
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_confusion_matrix(y[target], labels[target], ax=axes[0],
                      class_names=data.target_names)
plot_domains_and_clusters(model.transform(X), np.where(in_amazon, 0, -1), labels,
                          domain_names={0: "amazon", -1: "webcam"}, axes=axes[1:])
fig.tight_layout()
