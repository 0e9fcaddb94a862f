"""
XDC: clustering a target domain without knowing K
=================================================

:class:`~skdomainclust.XDCClusterer` learns, on labelled MNIST digits, which pairs of nearby
rows belong together (a GCN over instance pivot subgraphs), with a gradient-reversal domain
classifier making the GCN's view of a USPS neighbourhood look like its view of an MNIST one
(it reads the link embeddings of both domains' subgraphs). The USPS clusters then come out of
link propagation: the number of clusters is found, not given. Scores are the pairwise and
BCubed F1 of identity clustering.
"""

import matplotlib.pyplot as plt
import numpy as np

from skdomainclust import XDCClusterer
from skdomainclust.datasets import load_mnist_usps_jda, stack_domains
from skdomainclust.metrics import bcubed_f1, nmi, pairwise_f1
from skdomainclust.plotting import plot_confusion_matrix, plot_domains_and_clusters

data = load_mnist_usps_jda()
X, y, sample_domain = stack_domains(data, source="mnist", target="usps")
target = sample_domain < 0

# %%
# Target labels are ignored by ``fit``; no number of clusters is passed.
model = XDCClusterer(random_state=0).fit(X, y, sample_domain=sample_domain)
labels = model.labels_[target]
print(f"{model.n_clusters_} clusters found for {len(np.unique(y[target]))} classes")
print(f"pairwise F1 {pairwise_f1(y[target], labels):.3f}, "
      f"BCubed F1 {bcubed_f1(y[target], labels):.3f}, NMI {100 * nmi(y[target], labels):.1f}%")

# %%
# XDC finds more clusters than there are digits: the small ones are fragments of a class
# that link propagation did not join. After matching, the clusters left without a class are
# gathered in the last column ("unmatched"); the right panel colours every cluster (too many
# for a legend). The 2-D view is a PCA of the embedding the kNN graphs are built in.
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_confusion_matrix(y[target], labels, ax=axes[0])
plot_domains_and_clusters(model.transform(X), sample_domain, model.predict(X), axes=axes[1:],
                          domain_names={0: "MNIST (source)", -1: "USPS (target)"})
fig.tight_layout()
