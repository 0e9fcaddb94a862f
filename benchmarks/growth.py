"""How each estimator's cost grows with the number of rows: one epoch of fit, then a predict.

Every estimator fits one epoch (each of its phases: G and the clustering network for CCN,
the sources and the target for ACIDS, SRDC's input-dropout probes) on shifted Gaussian blobs
(128 features, 10 classes, half source and half target; ACIDS: two unlabelled sources and a
target; UCDIR: two unlabelled domains), then predicts the target rows (UCDIR also retrieves
1,000 of them). Each (estimator, n) runs in a fresh process under a memory cap, so that peak
RSS is the run's own and one quadratic step cannot take the machine down: a run over the cap
ends in ``MemoryError`` and is recorded as such, a run over the time limit as ``timeout``.
The exponents are the slopes of log cost against log n between the two largest sizes that
both completed.

Run with ``python -m benchmarks.growth [--sizes 8000 32000 128000] [--estimators ...]``;
appends JSON lines to ``benchmarks/results/growth.jsonl`` and prints the growth table, which
``python -m benchmarks.report`` adds to ``RESULTS.md``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from .run import RESULTS_DIR, write_record

N_FEATURES = 128
N_CLASSES = 10
SIZES = (8_000, 32_000, 128_000)
#: Address-space cap of every run (the issue's budget for 10^6 rows is 12 GB).
MEMORY_CAP_BYTES = 12 * 1024 ** 3
TIMEOUT_S = 600
GROWTH_FILE = "growth.jsonl"


def blobs(n_rows, n_domains, seed=0):
    """``(X float32, y, domain index)``: ``n_domains`` equal blocks of the same 10 Gaussian
    classes, each block rotated and offset (the domain shift)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(N_CLASSES, N_FEATURES))
    per_domain = n_rows // n_domains
    X, y, domain = [], [], []
    for d in range(n_domains):
        q, _ = np.linalg.qr(rng.normal(size=(N_FEATURES, N_FEATURES)))
        labels = rng.integers(0, N_CLASSES, per_domain)
        rows = centres[labels] + rng.normal(size=(per_domain, N_FEATURES))
        X.append((rows @ (np.eye(N_FEATURES) + 0.2 * d * (q - np.eye(N_FEATURES)))
                  + 0.5 * d * rng.normal(size=N_FEATURES)).astype(np.float32))
        y.append(labels)
        domain.append(np.full(per_domain, d))
    return np.concatenate(X), np.concatenate(y), np.concatenate(domain)


def _labelled_source_and_target(n_rows):
    X, y, domain = blobs(n_rows, 2)
    sample_domain = np.where(domain == 0, 0, -1)
    return X, np.where(sample_domain < 0, -1, y), sample_domain


def _one_epoch_similarity():
    from skdomainclust import PairwiseSimilarity

    return PairwiseSimilarity(max_epochs=1, random_state=0)


def _estimators():
    """``{name: (make, data)}``: each estimator at one epoch, and how its rows are laid out."""
    from skdomainclust import (
        ACIDSClusterer,
        CCNAdapter,
        CCNClusterer,
        PairwiseSimilarity,
        SourceOnlyClassifier,
        SRDCAdapter,
        UCDIRRetriever,
        XDCClusterer,
    )

    return {
        "SourceOnlyClassifier": (lambda: SourceOnlyClassifier(max_epochs=1, random_state=0),
                                 "labelled"),
        "SRDCAdapter": (lambda: SRDCAdapter(max_epochs=1, random_state=0), "labelled"),
        "PairwiseSimilarity": (lambda: PairwiseSimilarity(max_epochs=1, random_state=0),
                               "labelled"),
        "CCNClusterer": (lambda: CCNClusterer(n_clusters=N_CLASSES, max_epochs=1,
                                              similarity=_one_epoch_similarity(),
                                              random_state=0), "labelled"),
        "CCNAdapter": (lambda: CCNAdapter(max_epochs=1, similarity=_one_epoch_similarity(),
                                          random_state=0), "labelled"),
        "XDCClusterer": (lambda: XDCClusterer(max_epochs=1, random_state=0), "labelled"),
        "ACIDSClusterer": (lambda: ACIDSClusterer(n_clusters=N_CLASSES, warmup_epochs=0,
                                                  max_epochs=1, adapt_epochs=1,
                                                  random_state=0), "two sources"),
        "UCDIRRetriever": (lambda: UCDIRRetriever(n_clusters=N_CLASSES, warmup_epochs=0,
                                                  max_epochs=1, random_state=0), "two domains"),
    }


def _fit_and_predict(name, n_rows):
    """One run in this process: ``{"fit_s", "predict_s", "cpu_s"}``."""
    make, layout = _estimators()[name]
    if layout == "labelled":
        X, y, sample_domain = _labelled_source_and_target(n_rows)
        target = sample_domain < 0
        fit_args = (X, y)
    elif layout == "two sources":
        X, _, domain = blobs(n_rows, 3)
        sample_domain = np.where(domain == 2, -1, domain)
        target = sample_domain < 0
        fit_args = (X,)
    else:
        X, _, domain = blobs(n_rows, 2)
        sample_domain = domain
        target = domain == 1
        fit_args = (X,)
    model = make()
    cpu, wall = time.process_time(), time.perf_counter()
    if name == "PairwiseSimilarity":  # G is fitted on labelled rows and clusters any rows
        model.fit(X[~target], fit_args[1][~target])
    else:
        model.fit(*fit_args, sample_domain=sample_domain)
    fit_s = time.perf_counter() - wall
    start = time.perf_counter()
    model.predict(X[target])
    if name == "UCDIRRetriever":  # and its retrieval: 1,000 queries against the other domain
        queries = X[target][:1000]
        model.kneighbors(queries, n_neighbors=5, sample_domain=np.ones(len(queries), int))
    return {"fit_s": round(fit_s, 2), "predict_s": round(time.perf_counter() - start, 2),
            "cpu_s": round(time.process_time() - cpu, 2)}


def _worker(name, n_rows):
    import torch

    torch.set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    result = _fit_and_predict(name, n_rows)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def measure(name, n_rows, timeout=TIMEOUT_S):
    """One (estimator, n) in a fresh process: the record, with ``status`` ok / MemoryError /
    timeout / failed."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "benchmarks.growth", "--worker", name, str(n_rows)]
    record = {"benchmark": "growth", "estimator": name, "n_rows": int(n_rows),
              "n_features": N_FEATURES}
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, cwd=root,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**record, "status": "timeout", "wall_s": round(time.perf_counter() - start, 1)}
    if result.returncode:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        status = "MemoryError" if "MemoryError" in result.stderr or "out of memory" in \
            result.stderr.lower() or "can't allocate" in result.stderr.lower() else "failed"
        return {**record, "status": status, "error": last[-300:],
                "wall_s": round(time.perf_counter() - start, 1)}
    return {**record, "status": "ok", **json.loads(result.stdout.strip().splitlines()[-1])}


def _latest(records):
    """``{(estimator, n_rows): record}``: the latest record of each pair counts."""
    return {(r["estimator"], r["n_rows"]): r for r in records}


def exponents(records):
    """``{estimator: (n_low, n_high, time exponent, memory exponent)}`` between the two
    largest sizes that both completed (the latest record of each (estimator, n) counts)."""
    latest = _latest(records)
    out = {}
    for name in sorted({e for e, _ in latest}):
        done = sorted(n for (e, n), r in latest.items() if e == name and r["status"] == "ok")
        if len(done) < 2:
            continue
        low, high = latest[(name, done[-2])], latest[(name, done[-1])]
        span = np.log(high["n_rows"] / low["n_rows"])
        cost = lambda r: r["fit_s"] + r["predict_s"]  # noqa: E731
        out[name] = (low["n_rows"], high["n_rows"], float(np.log(cost(high) / cost(low)) / span),
                     float(np.log(high["peak_rss_mb"] / low["peak_rss_mb"]) / span))
    return out


def growth_table(records):
    """Markdown lines: seconds (fit + predict) and peak RSS per size, and the exponents."""
    latest = _latest(records)
    sizes = sorted({n for _, n in latest})
    fitted = exponents(records)
    lines = ["| estimator | " + " | ".join(f"{n:,} rows: s / MB" for n in sizes)
             + " | time exponent | memory exponent |",
             "|---|" + "---|" * (len(sizes) + 2)]
    for name in sorted({e for e, _ in latest}):
        cells = []
        for n in sizes:
            r = latest.get((name, n))
            if r is None:
                cells.append("-")
            elif r["status"] == "ok":
                cells.append(f"{r['fit_s'] + r['predict_s']:.1f} / {r['peak_rss_mb']:.0f}")
            else:  # how long it ran before it failed or was stopped
                cells.append(r["status"] + (f" ({r['wall_s']:.0f} s)" if "wall_s" in r else ""))
        low_high = fitted.get(name)
        tail = ("- | -" if low_high is None else
                f"{low_high[2]:.2f} ({low_high[0]:,}->{low_high[1]:,}) | {low_high[3]:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {tail} |")
    return lines


def load(path):
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--estimators", nargs="*", default=None)
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker[0], int(args.worker[1]))
        return 0
    path = os.path.join(RESULTS_DIR, GROWTH_FILE)
    names = args.estimators or list(_estimators())
    with open(path, "a", encoding="utf-8") as out:
        for name in names:
            for n_rows in sorted(args.sizes):
                record = measure(name, n_rows, timeout=args.timeout)
                write_record(out, record)
                if record["status"] != "ok":  # a larger size would fail the same way
                    break
    print("\n".join(growth_table(load(path))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
