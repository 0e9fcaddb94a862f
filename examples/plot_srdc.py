"""
SRDC: structurally regularised deep clustering of the target
============================================================

:class:`~skdomainclust.SRDCAdapter` clusters the unlabelled target (Office-Caltech10 caltech
photos -> webcam photos, SURF features) at the output and at the feature level against
sharpened auxiliary distributions, while the labelled source keeps the clusters aligned with
the classes. Every epoch re-initialises the cluster centres from k-means on the target. The
input dropout that stands in for image augmentation is chosen on held-out source rows
(``input_dropout_``).
"""

import matplotlib.pyplot as plt
import numpy as np

from skdomainclust import SourceOnlyClassifier, SRDCAdapter
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.plotting import plot_confusion_matrix, plot_domains_and_clusters

data = load_office_caltech_surf()
X, y, sample_domain = stack_domains(data, source="caltech", target="webcam")
target = sample_domain < 0

# %%
# The same data through the no-adaptation baseline and through SRDC. Target labels in ``y``
# are ignored by both ``fit`` calls.
baseline = SourceOnlyClassifier(random_state=0).fit(X, y, sample_domain=sample_domain)
model = SRDCAdapter(random_state=0).fit(X, y, sample_domain=sample_domain)
for name, estimator in [("source only", baseline), ("SRDC", model)]:
    print(f"{name:>11}: target accuracy "
          f"{100 * np.mean(estimator.predict(X[target]) == y[target]):.1f}%")
print(f"input dropout chosen on the source: {model.input_dropout_} "
      f"(held-out source accuracy per rate: {model.input_dropout_scores_})")

# %%
# SRDC predicts classes, so the confusion matrix needs no matching. Its bottleneck features
# (``transform``) bring the two domains together, grouped by class.
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_confusion_matrix(y[target], model.predict(X[target]), match=False, ax=axes[0],
                      class_names=data.target_names)
plot_domains_and_clusters(model.transform(X), sample_domain, model.predict(X), axes=axes[1:],
                          domain_names={0: "caltech", -1: "webcam"})
fig.tight_layout()
