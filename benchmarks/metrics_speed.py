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


if __name__ == "__main__":
    print(json.dumps(measure()))
