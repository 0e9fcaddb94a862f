"""``python -m skdomainclust demo``: every method on the built-in digits shift, in one table.

The data is scikit-learn's bundled 8x8 digits (no download): the "original" images are the
labelled source and a transformed copy of other images (rotated by default) is the unlabelled
target. Each entry trains on the stacked rows with the target labels masked, and is scored on
the target rows.
"""

import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DemoEntry:
    """One row of the demo table.

    ``run(data, seed)`` gets the :class:`DemoData` and returns the predicted labels of the
    target rows; ``labels_are_classes`` says whether they are class predictions (plain
    accuracy) or cluster ids (Hungarian-matched accuracy). ``baseline`` marks what a user
    would run instead of a method; the table's verdict compares every method with the best.
    """

    name: str
    run: Callable
    labels_are_classes: bool
    baseline: bool = False


@dataclass(frozen=True)
class DemoData:
    """The demo's arrays, target labels masked to -1.

    ``X, y, sample_domain`` stack the labelled source and the target. ``multi_source`` is
    ``(X, sample_domain)`` for methods that learn from several *unlabelled* sources (ACIDS):
    the source, a second source domain, then the same target rows.
    """

    X: np.ndarray
    y: np.ndarray
    sample_domain: np.ndarray
    n_classes: int
    multi_source: tuple


def _kmeans(data, seed):
    from sklearn.cluster import KMeans

    target = data.sample_domain < 0
    return KMeans(data.n_classes, n_init=10, random_state=seed).fit_predict(data.X[target])


def _one_nn(data, seed):
    from sklearn.neighbors import KNeighborsClassifier

    source, target = data.sample_domain >= 0, data.sample_domain < 0
    model = KNeighborsClassifier(1).fit(data.X[source], data.y[source])
    return model.predict(data.X[target])


def _source_only(data, seed):
    from . import SourceOnlyClassifier

    model = SourceOnlyClassifier(random_state=seed)
    model.fit(data.X, data.y, sample_domain=data.sample_domain)
    return model.predict(data.X[data.sample_domain < 0])


def _ucdir(data, seed):
    """UCDIR on the two domains, labels unused; the target's nearest prototype (a cluster)."""
    from .ucdir import UCDIRRetriever

    model = UCDIRRetriever(n_clusters=data.n_classes, max_epochs=20, warmup_epochs=5,
                           saturation_epoch=12, alignment_epoch=12, random_state=seed)
    model.fit(data.X, sample_domain=data.sample_domain)
    target = data.sample_domain < 0
    return model.predict(data.X[target], sample_domain=data.sample_domain[target])


def _xdc(data, seed):
    from . import XDCClusterer

    model = XDCClusterer(random_state=seed)
    model.fit(data.X, data.y, sample_domain=data.sample_domain)
    return model.labels_[data.sample_domain < 0]


def _acids(data, seed):
    from . import ACIDSClusterer

    X, sample_domain = data.multi_source  # two unlabelled sources, then the target rows
    model = ACIDSClusterer(n_clusters=data.n_classes, max_epochs=30, adapt_epochs=30,
                           random_state=seed)
    model.fit(X[sample_domain >= 0], sample_domain=sample_domain[sample_domain >= 0])
    return model.adapt(X[sample_domain < 0]).labels_


def _srdc(data, seed):
    from . import SRDCAdapter

    model = SRDCAdapter(max_epochs=30, random_state=seed)
    model.fit(data.X, data.y, sample_domain=data.sample_domain)
    return model.predict(data.X[data.sample_domain < 0])


def _ccn_clusterer(data, seed):
    from . import CCNClusterer

    # The similarity network G is fitted on the labelled source rows, then the target alone is
    # clustered from G's pair predictions.
    model = CCNClusterer(n_clusters=data.n_classes, max_epochs=30, random_state=seed)
    model.fit(data.X, data.y, sample_domain=data.sample_domain)
    return model.labels_[data.sample_domain < 0]


def _ccn_adapter(data, seed):
    from . import CCNAdapter

    # CCN+: source cross-entropy + the clustering objective on the target, with the similarity
    # network G fitted on the source labels.
    model = CCNAdapter(max_epochs=15, random_state=seed)
    model.fit(data.X, data.y, sample_domain=data.sample_domain)
    return model.predict(data.X[data.sample_domain < 0])


ENTRIES = [
    DemoEntry("k-means (target, true K)", _kmeans, labels_are_classes=False, baseline=True),
    DemoEntry("1-NN (source labels)", _one_nn, labels_are_classes=True, baseline=True),
    DemoEntry("SourceOnlyClassifier", _source_only, labels_are_classes=True),
    DemoEntry("CCNClusterer (G on source labels)", _ccn_clusterer, labels_are_classes=False),
    DemoEntry("CCNAdapter (CCN+)", _ccn_adapter, labels_are_classes=True),
    DemoEntry("SRDCAdapter", _srdc, labels_are_classes=True),
    DemoEntry("ACIDSClusterer (2 unlabelled sources)", _acids, labels_are_classes=False),
    DemoEntry("UCDIRRetriever (nearest prototype)", _ucdir, labels_are_classes=False),
    DemoEntry("XDCClusterer (no K)", _xdc, labels_are_classes=False),
]


def load_demo_data(source="original", target="rotated", extra_source=None, random_state=0):
    """Build the demo arrays from the built-in digits shift; return ``(data, y_true_target)``.

    ``extra_source`` is the second unlabelled source of multi-source methods; by default
    "noisy", or "blurred" when the target is "noisy".
    """
    from .datasets import make_digits_shift, stack_domains

    if extra_source is None:
        extra_source = "blurred" if target == "noisy" else "noisy"
    if len({source, target, extra_source}) < 3:
        raise ValueError(f"source, target and extra_source must differ, got {source!r}, "
                         f"{target!r} and {extra_source!r}.")

    domains = tuple(dict.fromkeys((source, extra_source, target)))
    bunch = make_digits_shift(domains=domains, random_state=random_state)
    X, y, sample_domain = stack_domains(bunch, source=source, target=target,
                                        mask_target_labels=True)
    X_multi, _, domain_multi = stack_domains(bunch, source=[source, extra_source],
                                             target=target)
    _, y_all, _ = stack_domains(bunch, source=source, target=target)
    y_true = y_all[sample_domain < 0]
    data = DemoData(X=X, y=y, sample_domain=sample_domain, n_classes=len(np.unique(y_all)),
                    multi_source=(X_multi, domain_multi))
    return data, y_true


def run_demo(*, target="rotated", seed=0, entries=None, progress=True, stream=None):
    """Run every demo entry; print the table to ``stream`` and return the rows as dicts."""
    import sys

    from tqdm.auto import tqdm

    from .metrics import cluster_accuracy, nmi, pairwise_f1

    stream = stream or sys.stdout
    entries = ENTRIES if entries is None else entries
    data, y_true = load_demo_data(target=target, random_state=seed)
    n_source = int(np.sum(data.sample_domain >= 0))
    print(f"Digits shift: {n_source} labelled 'original' source digits -> "
          f"{len(y_true)} unlabelled '{target}' target digits, {data.n_classes} classes.",
          file=stream)
    rows = []
    bar = tqdm(entries, desc="demo", unit="method", disable=not progress, leave=False)
    for entry in bar:
        bar.set_postfix_str(entry.name)
        start = time.perf_counter()
        labels = np.asarray(entry.run(data, seed))
        seconds = time.perf_counter() - start
        acc = (np.mean(labels == y_true) if entry.labels_are_classes
               else cluster_accuracy(y_true, labels))
        rows.append({"method": entry.name, "baseline": entry.baseline, "acc": 100 * acc,
                     "nmi": 100 * nmi(y_true, labels),
                     "pairwise_f1": pairwise_f1(y_true, labels), "seconds": seconds})
    bar.close()
    width = max(len(r["method"]) for r in rows)
    print(f"\n{'method':<{width}}  {'ACC %':>6}  {'NMI %':>6}  {'pair F1':>7}  {'seconds':>7}",
          file=stream)
    for r in rows:
        print(f"{r['method']:<{width}}  {r['acc']:6.1f}  {r['nmi']:6.1f}  "
              f"{r['pairwise_f1']:7.3f}  {r['seconds']:7.1f}", file=stream)
    print("\nACC is plain accuracy for classifiers and Hungarian-matched accuracy for "
          "clusterings.", file=stream)
    print(textwrap.fill(verdict(rows), width=96), file=stream)
    return rows


def verdict(rows):
    """Say, from the numbers, which methods beat the best baseline on this shift."""
    baselines = [r for r in rows if r["baseline"]]
    methods = [r for r in rows if not r["baseline"]]
    if not baselines or not methods:
        return ""
    best = max(baselines, key=lambda r: r["acc"])
    winners = [f"{r['method']} ({r['acc']:.1f})" for r in methods if r["acc"] > best["acc"]]
    head = (f"Best baseline: {best['method']}, ACC {best['acc']:.1f}. "
            + (f"Above it: {', '.join(winners)}." if winners else "No method beats it here."))
    return (f"{head} {len(methods) - len(winners)} of {len(methods)} methods do not: this toy "
            "shift is raw 8x8 pixels with short training, a smoke test of the install, not a "
            "ranking. Method by method against the strongest baselines on real data: "
            "benchmarks/results/RESULTS.md.")
