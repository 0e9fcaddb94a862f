"""
Source-only baseline on Office-Caltech10 (amazon -> webcam)
===========================================================

The "no adaptation" row of every domain adaptation table: an MLP trained on the labelled
amazon product photos, applied to webcam photos of the same ten classes. Every adaptive
method of skdomainclust should do better on the target than this.
"""

import matplotlib.pyplot as plt
import numpy as np

from skdomainclust import SourceOnlyClassifier
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.plotting import plot_confusion_matrix, plot_domains_and_clusters

data = load_office_caltech_surf()
X, y, sample_domain = stack_domains(data, source="amazon", target="webcam")
target = sample_domain < 0

# %%
# Target labels in ``y`` are ignored by ``fit``: the rows marked ``sample_domain < 0`` are
# unlabelled for the estimator, and their labels serve only to score it here.
model = SourceOnlyClassifier(random_state=0).fit(X, y, sample_domain=sample_domain)
predicted = model.predict(X[target])
print(f"target accuracy: {100 * np.mean(predicted == y[target]):.1f}%")

# %%
# The confusion matrix on the target, and the network's embedding of both domains: without
# adaptation, source and target occupy different regions.
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_confusion_matrix(y[target], predicted, match=False, ax=axes[0],
                      class_names=data.target_names)  # class predictions
plot_domains_and_clusters(model.transform(X), sample_domain, model.predict(X), axes=axes[1:],
                          domain_names={0: "amazon", -1: "webcam"})
fig.tight_layout()
