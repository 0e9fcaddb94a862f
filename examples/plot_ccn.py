"""
CCN+: source labels plus a learned pairwise similarity on the target
=====================================================================

:class:`~skdomainclust.CCNAdapter` trains one network on a labelled source (Office-Caltech10
caltech photos, SURF features) with cross-entropy and on the unlabelled target (webcam photos)
with the learnable clustering objective: a similarity network G, fitted here on the source
labels, says which target pairs belong together, and the network's class distributions are
pulled to agree on similar pairs and disagree on dissimilar ones.
"""

import matplotlib.pyplot as plt
import numpy as np

from skdomainclust import CCNAdapter, SourceOnlyClassifier
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.plotting import plot_confusion_matrix, plot_domains_and_clusters

data = load_office_caltech_surf()
X, y, sample_domain = stack_domains(data, source="caltech", target="webcam")
target = sample_domain < 0

# %%
# ``similarity=None`` fits G on the source labels; target labels in ``y`` are ignored.
baseline = SourceOnlyClassifier(random_state=0).fit(X, y, sample_domain=sample_domain)
model = CCNAdapter(max_epochs=30, random_state=0).fit(X, y, sample_domain=sample_domain)
for name, estimator in [("source only", baseline), ("CCN+", model)]:
    print(f"{name:>11}: target accuracy "
          f"{100 * np.mean(estimator.predict(X[target]) == y[target]):.1f}%")

# %%
# How well does G, learned on caltech, tell same-class webcam pairs from the others?
report = model.similarity_.pair_report(X[target], y[target])
print({key: round(value, 3) for key, value in report.items()})

# %%
# Class predictions on the target, and the network's embedding of both domains.
fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
plot_confusion_matrix(y[target], model.predict(X[target]), match=False, ax=axes[0],
                      class_names=data.target_names)
plot_domains_and_clusters(model.transform(X), sample_domain, model.predict(X), axes=axes[1:],
                          domain_names={0: "caltech", -1: "webcam"})
fig.tight_layout()
