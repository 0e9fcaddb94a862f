"""How long XDC's link propagation takes on 100,000 points with k1 = 20 links each.

The links are synthetic (no GCN involved): points fall in clusters of 5 to 1,500, each point
links to ``k1`` others, 90 % of them in its own cluster, with scores drawn high for those and
low for the rest. With ``max_size=900`` the largest clusters must be split by the rising
threshold, so the timing includes several propagation rounds. The acceptance bound is 30 s on
one CPU core. Run as ``python -m benchmarks.propagation``.
"""

import argparse
import json
import time

import numpy as np


def synthetic_links(n_points=100_000, k1=20, n_clusters=400, seed=0):
    """``(edges, scores, truth)``: ``n_points * k1`` directed scored links and true clusters."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 1500, n_clusters)
    truth = np.repeat(np.arange(n_clusters), sizes)[:n_points]
    if len(truth) < n_points:
        truth = np.sort(np.concatenate([truth, rng.integers(0, n_clusters, n_points - len(truth))]))
    starts = np.searchsorted(truth, np.arange(n_clusters))
    counts = np.bincount(truth, minlength=n_clusters)
    src = np.repeat(np.arange(n_points), k1)
    inside = starts[truth[src]] + (rng.random(len(src)) * counts[truth[src]]).astype(np.int64)
    dst = np.where(rng.random(len(src)) < 0.9, inside, rng.integers(0, n_points, len(src)))
    same = truth[src] == truth[dst]
    scores = np.where(same, rng.beta(5, 1, len(src)), rng.beta(1, 5, len(src)))
    return np.stack([src, dst], axis=1), scores, truth


def measure(n_points=100_000, k1=20, max_size=900, step=0.6, repeats=3):
    """Best-of-``repeats`` seconds of ``propagate_labels`` (pooling both directions included)."""
    from skdomainclust._propagation import propagate_labels

    edges, scores, truth = synthetic_links(n_points, k1)
    best, labels = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        labels = propagate_labels(edges, scores, n_points, max_size=max_size, step=step)
        best = min(best, time.perf_counter() - start)
    sizes = np.bincount(labels)
    return {
        "benchmark": "propagation",
        "n_points": n_points,
        "k1": k1,
        "n_links": int(len(edges)),
        "max_size": max_size,
        "seconds": round(best, 3),
        "n_clusters": int(len(sizes)),
        "largest_cluster": int(sizes.max()),
        "n_true_clusters": int(len(np.unique(truth))),
        "within_30s": bool(best < 30.0),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-points", type=int, default=100_000)
    parser.add_argument("--k1", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(measure(n_points=args.n_points, k1=args.k1, repeats=args.repeats)))


if __name__ == "__main__":
    main()
