"""
CCN cross-task: cluster classes the similarity network never saw
================================================================

The cross-task setting of Hsu et al. (ICLR 2018): a :class:`~skdomainclust.PairwiseSimilarity`
network G learns "same class or not" on 21 labelled Office-31 classes of the amazon domain
(ImageNet EfficientNet-Lite0 features), then :class:`~skdomainclust.CCNClusterer` clusters the
webcam images of the *other* 10 classes, which G never saw, with the number of clusters
unknown: the clustering network gets 20 outputs, an upper bound, and its learnable clustering
objective leaves the unneeded ones (nearly) empty.

Read the numbers before choosing it: on these features k-means, *told* the true K, clusters
the new classes better than CCN does without it. CCN's case is the one where K is unknown and
G's notion of "same class" transfers (the paper's Omniglot alphabets).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans

from skdomainclust import CCNClusterer, PairwiseSimilarity
from skdomainclust.datasets import load_office31
from skdomainclust.metrics import cluster_accuracy, nmi
from skdomainclust.plotting import plot_confusion_matrix, plot_embedding

data = load_office31()
names = list(data.domain_names)
auxiliary = (data.domain == names.index("amazon")) & (data.y < 21)  # labelled, classes 0-20
target = (data.domain == names.index("webcam")) & (data.y >= 21)    # unlabelled, classes 21-30
X_target, y_target = data.X[target], data.y[target]

# %%
# G learns pairwise similarity on the auxiliary classes only. How well does it tell
# same-class pairs of the new classes, in the new domain, from the others?
G = PairwiseSimilarity(random_state=0).fit(data.X[auxiliary], data.y[auxiliary])
report = G.pair_report(X_target, y_target)
print("G on the new classes:", {key: round(value, 3) for key, value in report.items()})

# %%
# The clustering network learns from G's pair predictions on the target rows alone; the
# target labels are used below for scoring only.
model = CCNClusterer(n_clusters=20, similarity=G, random_state=0).fit(X_target)
kmeans = KMeans(n_clusters=10, n_init=10, random_state=0).fit_predict(X_target)
print(f"CCN, 20 outputs: {len(np.unique(model.labels_))} clusters used, "
      f"{model.n_clusters_estimated_} estimated (NDC) for 10 classes")
for name, labels in [("CCN (K unknown)", model.labels_), ("k-means (true K)", kmeans)]:
    print(f"{name:>16}: ACC {100 * cluster_accuracy(y_target, labels):.1f}%, "
          f"NMI {100 * nmi(y_target, labels):.1f}%")

# %%
# Clusters matched to the classes first (the unmatched ones gathered in the last column),
# and the clustering network's output distributions, coloured by the true class.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
plot_confusion_matrix(y_target, model.labels_, ax=axes[0], class_names=data.target_names)
plot_embedding(model.predict_proba(X_target), y_target, ax=axes[1],
               label_names=dict(enumerate(data.target_names)),
               title="target rows by true class")
fig.tight_layout()
