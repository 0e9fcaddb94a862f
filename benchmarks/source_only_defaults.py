"""How ``SourceOnlyClassifier``'s defaults are chosen: held-out *source* accuracy only.

For every source domain of the classification families (SURF, DeCAF, MNIST/USPS, Office-31;
each family's preprocessing), a stratified quarter of the source rows is held out, each
candidate setting is trained on the rest and scored on the held-out quarter, for seeds 0 and 1.
No target row and no target label is read. The incumbent default is kept unless a candidate
improves the held-out accuracy, paired over the same splits, by more than one standard error
of the paired differences (see :func:`summarise`).

Run with ``python -m benchmarks.source_only_defaults``; appends JSON lines to
``benchmarks/results/source_only_defaults.jsonl`` and prints the table.
"""

import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skdomainclust import SourceOnlyClassifier

from .run import RESULTS_DIR, SHARED_DATA, write_record

CANDIDATES = {
    "(256,) dropout 0.2, 50 epochs": dict(),
    "(256,) dropout 0.5, 50 epochs": dict(dropout=0.5),
    "(512,) dropout 0.5, 50 epochs": dict(hidden_dims=(512,), dropout=0.5),
    "(256,) dropout 0.2, 100 epochs": dict(max_epochs=100),
    "(256,) dropout 0.5, weight decay 1e-3": dict(dropout=0.5, weight_decay=1e-3),
    "(256,) dropout 0.2, no batch-norm": dict(batch_norm=False),
    "(256,) dropout 0.2, no batch-norm, 100 epochs": dict(batch_norm=False, max_epochs=100),
    # skada's deep methods draw half of every batch from the target, so its SourceOnly
    # takes twice our steps per epoch on batches of 32 source rows: the batch size is the
    # difference between the two trainings of the same network.
    "(256,) dropout 0.2, batch 32": dict(batch_size=32),
    "(256,) dropout 0.2, batch 128": dict(batch_size=128),
}


def source_domains():
    """``[(family, domain, X, y)]`` of every source domain of the classification families."""
    from .tasks import family_dataset

    out = []
    for family in ("surf", "decaf", "digits", "office31"):
        data = family_dataset(family)
        for index, name in enumerate(data.domain_names):
            rows = data.domain == index
            out.append((family, name, data.X[rows], data.y[rows]))
    return out


def dev_shift_tasks():
    """Shifts used only for development, never reported in the league table: MNIST (5k
    training subset) -> MNIST-M and USPS (training set) -> MNIST-M, grey 16x16, rows
    L2-normalised (the JDA digits protocol; MNIST-M is built from MNIST *test* digits)."""
    from skdomainclust.datasets import load_mnist, load_mnist_m, load_usps

    def l2(X):
        X = X.reshape(len(X), -1).astype(np.float64)
        return (X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)).astype(
            np.float32)

    mnist = load_mnist(subset="train5k", image_size=16)
    usps = load_usps(subset="train", image_size=16)
    mnist_m = load_mnist_m(image_size=16, grayscale=True)
    target = (l2(mnist_m.X), mnist_m.y)
    return {"mnist->mnist_m": ((l2(mnist.X), mnist.y), target),
            "usps->mnist_m": ((l2(usps.X), usps.y), target)}


def run_dev_shift(candidates, out):
    """Target accuracy of each candidate on the development shifts, seeds 0 and 1."""
    for task, ((Xs, ys), (Xt, yt)) in dev_shift_tasks().items():
        X = np.concatenate([Xs, Xt])
        sample_domain = np.r_[np.zeros(len(ys), int), -np.ones(len(yt), int)]
        y = np.r_[ys, np.full(len(yt), -1)]
        for seed in (0, 1):
            for name in candidates:
                start = time.perf_counter()
                model = SourceOnlyClassifier(random_state=seed, **CANDIDATES[name])
                model.fit(X, y, sample_domain=sample_domain)
                acc = float(np.mean(model.predict(Xt) == yt))
                record = {"dev_task": task, "seed": seed, "candidate": name,
                          "dev_target_acc": acc,
                          "fit_seconds": round(time.perf_counter() - start, 2)}
                write_record(out, record)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES),
                        help="candidate names (default: all)")
    parser.add_argument("--dev-shift", action="store_true",
                        help="score the candidates on the development shifts instead")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("SKDOMAINCLUST_DATA", SHARED_DATA)
    path = os.path.join(RESULTS_DIR, "source_only_defaults.jsonl")
    if args.dev_shift:
        with open(path, "a", encoding="utf-8") as out:
            run_dev_shift(args.candidates, out)
        summarise_dev_shift(path)
        return 0
    with open(path, "a", encoding="utf-8") as out:
        for family, domain, X, y in source_domains():
            for seed in (0, 1):
                train, held = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y,
                                               random_state=seed)
                for name in args.candidates:
                    params = CANDIDATES[name]
                    start = time.perf_counter()
                    model = SourceOnlyClassifier(random_state=seed, **params)
                    model.fit(X[train], y[train], sample_domain=np.zeros(len(train), int))
                    acc = float(np.mean(model.predict(X[held]) == y[held]))
                    record = {"family": family, "domain": domain, "seed": seed,
                              "candidate": name, "held_out_acc": acc,
                              "fit_seconds": round(time.perf_counter() - start, 2)}
                    write_record(out, record)
    summarise(path)
    return 0


INCUMBENT = "(256,) dropout 0.2, 50 epochs"


def summarise(path):
    """Print every candidate's mean held-out accuracy and its paired difference with the
    incumbent default over the same (domain, seed) splits; return the rule's choice.

    The rule: keep the incumbent unless a candidate's mean paired gain exceeds one standard
    error of those paired differences (then the candidate with the largest gain wins).
    """
    records = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    records = [r for r in records if "held_out_acc" in r]
    scores = {}
    for r in records:  # the latest record of every (candidate, split) counts
        scores.setdefault(r["candidate"], {})[(r["family"], r["domain"], r["seed"])] = \
            r["held_out_acc"]
    base = scores[INCUMBENT]
    choice, best_gain = INCUMBENT, 0.0
    for name, values in sorted(scores.items(), key=lambda kv: -np.mean(list(kv[1].values()))):
        shared = sorted(set(values) & set(base))
        gains = np.array([values[k] - base[k] for k in shared])
        se = gains.std(ddof=1) / np.sqrt(len(gains)) if len(gains) > 1 else np.inf
        print(f"{name}: held-out {100 * np.mean(list(values.values())):.2f} % "
              f"({len(values)} fits); paired gain vs incumbent {100 * gains.mean():+.2f} "
              f"+- {100 * se:.2f} (SE)")
        if name != INCUMBENT and gains.mean() > se and gains.mean() > best_gain:
            choice, best_gain = name, gains.mean()
    print(f"rule's choice: {choice}")
    return choice


def summarise_dev_shift(path):
    """Print every candidate's mean target accuracy on the development shifts."""
    records = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    scores = {}
    for r in records:
        if "dev_target_acc" in r:
            scores.setdefault(r["candidate"], {})[(r["dev_task"], r["seed"])] = \
                r["dev_target_acc"]
    for name, values in sorted(scores.items(), key=lambda kv: -np.mean(list(kv[1].values()))):
        per_task = {}
        for (task, _), value in values.items():
            per_task.setdefault(task, []).append(value)
        shown = ", ".join(f"{task} {100 * np.mean(v):.1f}" for task, v in sorted(per_task.items()))
        print(f"{name}: dev-shift target {100 * np.mean(list(values.values())):.2f} % "
              f"({shown}; {len(values)} fits)")


if __name__ == "__main__":
    sys.exit(main())
