"""
Grid search without target labels (SRDC, Office-Caltech10 amazon -> webcam)
===========================================================================

In unsupervised domain adaptation the target has no labels, so a grid search cannot score
candidates by target accuracy. This example searches SRDC's input dropout with a search that
is never given a target label: each candidate is fitted on every (unlabelled) target row and
80 % of the source rows, and scored on the 20 % of source rows it did not see. Held-out
source accuracy alone cannot see the shift, so the search keeps, among the candidates the
held-out rows cannot tell apart (within one standard error of the best), the most regularised
one. On the benchmark's SURF tasks this rule comes within 0.7 points of the oracle for SRDC,
where every score of the target predictions picks worse than a random candidate; on raw
digits it does not (``docs/model_selection.rst``, ``benchmarks/results/MODEL_SELECTION.md``).

A second search, with the target labels, shows what the oracle would have picked: only a
benchmark can run it.
"""

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV

from skdomainclust import SRDCAdapter
from skdomainclust.datasets import load_office_caltech_surf, stack_domains
from skdomainclust.metrics import get_scorer
from skdomainclust.model_selection import OneStandardErrorRule, SourceHoldOut

data = load_office_caltech_surf()
X, y, sample_domain = stack_domains(data, source="amazon", target="webcam")
target = sample_domain < 0
y_unlabelled_target = np.where(target, -1, y)  # all the search is ever given

grid = {"input_dropout": [0.0, 0.3, 0.5, 0.7]}
split = SourceHoldOut(test_size=0.2, random_state=0)
_, held = next(split.split(X, sample_domain=sample_domain))
n_held = int(np.sum(sample_domain[held] >= 0))

# %%
# The label-free search: held-out source accuracy, and the one-standard-error rule over
# input dropout (larger is more regularised). Metadata routing carries ``sample_domain`` to
# the estimator, the splitter and the scorer.
with sklearn.config_context(enable_metadata_routing=True):
    search = GridSearchCV(
        SRDCAdapter(random_state=0), grid, cv=split,
        scoring={"source_accuracy": get_scorer("source_accuracy")},
        refit=OneStandardErrorRule("source_accuracy", "input_dropout", n_scored=n_held))
    search.fit(X, y_unlabelled_target, sample_domain=sample_domain)
chosen = search.best_params_["input_dropout"]
accuracy = np.mean(search.best_estimator_.predict(X[target]) == y[target])
print(f"label-free choice: input_dropout={chosen}, target accuracy {100 * accuracy:.1f}%")

# %%
# The oracle: the same candidates scored by target accuracy (reads the target labels).
with sklearn.config_context(enable_metadata_routing=True):
    oracle = GridSearchCV(SRDCAdapter(random_state=0), grid, cv=split, refit=False,
                          scoring={"target_accuracy": get_scorer("target_accuracy")})
    oracle.fit(X, y, sample_domain=sample_domain)
rates = [params["input_dropout"] for params in oracle.cv_results_["params"]]
target_scores = 100 * oracle.cv_results_["mean_test_target_accuracy"]
source_scores = 100 * search.cv_results_["mean_test_source_accuracy"]
print(f"oracle choice: input_dropout={rates[int(np.argmax(target_scores))]}")

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(rates, source_scores, "o-", label="held-out source accuracy (label-free)")
ax.plot(rates, target_scores, "s--", label="target accuracy (oracle)")
ax.axvline(chosen, color="grey", linestyle=":", label="label-free choice")
ax.set_xlabel("input_dropout")
ax.set_ylabel("accuracy (%)")
ax.legend()
fig.tight_layout()
