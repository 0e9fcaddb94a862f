"""
ACIDS: clustering from unlabelled sources, then source-free adaptation
======================================================================

:class:`~skdomainclust.ACIDSClusterer` learns ten clusters from three Office-Caltech10 domains
(amazon, caltech, dslr) **without any label**, keeping one batch-norm per domain and aligning
the clusters across domains; :meth:`~skdomainclust.ACIDSClusterer.adapt` then moves the model
to the webcam domain from the webcam rows alone, with no source data at hand.
"""

import matplotlib.pyplot as plt
from sklearn.cluster import KMeans

from skdomainclust import ACIDSClusterer
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.metrics import cluster_accuracy, nmi
from skdomainclust.plotting import plot_confusion_matrix, plot_domains_and_clusters

data = load_office_caltech_surf()
X, y, sample_domain = stack_domains(data, source=["amazon", "caltech", "dslr"],
                                    target="webcam")
sources, target = sample_domain >= 0, sample_domain < 0

# %%
# Phase 1: the unlabelled sources only (no ``y`` is passed).
model = ACIDSClusterer(n_clusters=10, random_state=0)
model.fit(X[sources], sample_domain=sample_domain[sources])
before = model.predict(X[target])

# %%
# Phase 2, source-free: only the target rows reach ``adapt``. On feature vectors training
# starts from k-means of the input (``init="auto"``), and ``adapt`` first re-centres every
# cluster on the target rows, so the line to beat is k-means on the target alone.
model.adapt(X[target])
after = model.labels_
kmeans = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(X[target])
for name, labels in [("k-means on the target", kmeans), ("ACIDS before adapt", before),
                     ("ACIDS after adapt", after)]:
    print(f"{name}: ACC {100 * cluster_accuracy(y[target], labels):.1f}%, "
          f"NMI {100 * nmi(y[target], labels):.1f}%")

# %%
# Clusters are found without labels, so the confusion matrix matches them to classes first.
# The right panels show every domain through its own batch-norm slot (the source slots are
# kept; the source rows themselves were never seen by ``adapt``), by cluster probabilities.
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_confusion_matrix(y[target], after, ax=axes[0],
                      class_names=data.target_names)
proba = model.predict_proba(X, sample_domain=sample_domain)
names = {0: "amazon", 1: "caltech", 2: "dslr", -1: "webcam (target)"}
plot_domains_and_clusters(proba, sample_domain, proba.argmax(axis=1), domain_names=names,
                          axes=axes[1:])
fig.tight_layout()
