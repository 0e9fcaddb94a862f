"""How long the metrics take on large labellings (they must scale as O(n + k_true * k_pred)).

Run as ``python -m benchmarks.metrics_speed``.
"""

import json
import time

import numpy as np


def measure(n_labels=10_000_000, n_clusters=1_000, repeats=3):
    """Best-of-``repeats`` seconds of ``pairwise_f1`` and ``bcubed_f1`` on random labellings."""
    from skdomainclust.metrics import bcubed_f1, nmi, pairwise_f1

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, n_clusters, n_labels)
    y_pred = rng.integers(0, n_clusters, n_labels)
    timings = {}
    for name, fn in (("pairwise_f1", pairwise_f1), ("bcubed_f1", bcubed_f1), ("nmi", nmi)):
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            fn(y_true, y_pred)
            best = min(best, time.perf_counter() - start)
        timings[f"{name}_s"] = round(best, 3)
    return {"benchmark": "metrics_speed", "n_labels": n_labels, "n_clusters": n_clusters,
            **timings}


def measure_accuracy(n_labels=1_000_000, n_classes=100_000, correct=0.7):
    """Seconds and peak memory of ``cluster_accuracy`` with ``n_classes`` labels on each side.

    Two labellings: one that is right on a ``correct`` share of the rows (a clustering worth
    scoring) and one drawn independently of the truth (the worst case for the matching). A
    dense contingency matrix would need ``8 n_classes^2`` bytes (74.5 GiB at 10^5).
    """
    import resource

    from skdomainclust.metrics import cluster_accuracy

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, n_classes, n_labels)
    noisy = rng.random(n_labels) >= correct
    cases = {"structured": np.where(noisy, rng.integers(0, n_classes, n_labels), y_true),
             "independent": rng.integers(0, n_classes, n_labels)}
    out = {"benchmark": "cluster_accuracy_speed", "n_labels": n_labels, "n_classes": n_classes}
    for name, y_pred in cases.items():
        start = time.perf_counter()
        out[f"{name}_accuracy"] = round(cluster_accuracy(y_true, y_pred), 6)
        out[f"{name}_s"] = round(time.perf_counter() - start, 3)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(measure()))
    print(json.dumps(measure_accuracy()))
