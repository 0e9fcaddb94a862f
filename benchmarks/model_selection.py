"""Which hyperparameters do the label-free scorers pick, beside the labelled (oracle) scorer?

``python -m benchmarks.model_selection [--methods ...] [--tasks ...] [--seed 0]``

For each method, a small grid is searched on every Office-Caltech10 SURF task (the
leave-one-domain-out SURF tasks for multi-source ACIDS) with
``GridSearchCV`` under metadata routing, transductively as unsupervised domain adaptation
does: one split that fits on every row (target labels masked by the estimator's contract)
and scores the target rows. The scorers are the oracle (target accuracy, or Hungarian
accuracy for clusterers, which reads the true target labels) and the label-free
``unsupervised_entropy``, ``unsupervised_snd`` and ``unsupervised_kmeans_agreement``. Per
scorer the report gives the oracle accuracy of the candidate it picks, averaged over tasks,
and on how many tasks it picks the oracle's candidate; "mean candidate" is what a random pick
gets on average. Scorers a method cannot serve (no ``predict_proba``) read "n/a".

Writes ``benchmarks/results/model_selection.jsonl`` (one line per method, task, candidate)
and ``benchmarks/results/MODEL_SELECTION.md``.
"""

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import sklearn
import torch
from sklearn.model_selection import GridSearchCV

from skdomainclust.metrics import get_scorer

from .methods import discover
from .report import git_commit
from .run import RESULTS_DIR, SHARED_DATA
from .tasks import SURF_DOMAINS, standard_tasks

LABEL_FREE = ("unsupervised_entropy", "unsupervised_snd", "unsupervised_kmeans_agreement")


SURF_TASKS = tuple(f"surf:{s}->{t}" for s, t in permutations(SURF_DOMAINS, 2))


@dataclass(frozen=True)
class Search:
    """One method's search: how to build it, what to vary, how the oracle scores it.

    ``oracle`` is ``"target_accuracy"`` for classifiers, ``"target_cluster_accuracy"`` (or
    ``"target_pairwise_f1"`` for methods scored by it) for clusterers. ``tasks`` defaults to
    the 12 SURF tasks; multi-source methods use the leave-one-domain-out SURF tasks.
    """

    make: callable
    grid: dict
    oracle: str
    tasks: tuple = SURF_TASKS


def _maker(name, **fixed):
    def make(seed):
        import skdomainclust

        return getattr(skdomainclust, name)(random_state=seed, **fixed)

    return make


_source_only = _maker("SourceOnlyClassifier")
ACIDS_SURF_TASKS = tuple(f"acids_surf:{d}" for d in SURF_DOMAINS)

# Small grids (two to four candidates) over the parameter each method is most sensitive to,
# so that a whole table stays affordable on a CPU.
SEARCHES = {
    "SourceOnlyClassifier": Search(_source_only, {"lr": [1e-4, 1e-3, 1e-2]},
                                   "target_accuracy"),
    "SRDCAdapter": Search(_maker("SRDCAdapter"),
                          {"input_dropout": [0.0, 0.3, 0.5, 0.7]},
                          "target_accuracy"),
    "CCNAdapter": Search(_maker("CCNAdapter"), {"cluster_weight": [0.3, 1.0, 3.0]},
                         "target_accuracy"),
    "ACIDSClusterer": Search(_maker("ACIDSClusterer", n_clusters=10),
                             {"domain_weight": [1.0, 10.0]}, "target_cluster_accuracy",
                             ACIDS_SURF_TASKS),
    "XDCClusterer": Search(_maker("XDCClusterer"), {"adversarial_weight": [0.03, 0.1, 0.3]},
                           "target_pairwise_f1"),
    "UCDIRRetriever": Search(_maker("UCDIRRetriever", n_clusters=10),
                             {"cluster_weight": [0.5, 1.0]}, "target_cluster_accuracy"),
}


def search_one(search, X, y, sample_domain, seed):
    """Fit every candidate once on all rows; return ``(params, {scorer: score})`` rows."""
    scoring = {"oracle": get_scorer(search.oracle),
               **{name: get_scorer(name) for name in LABEL_FREE}}
    everything = np.arange(len(X))
    grid_search = GridSearchCV(search.make(seed), search.grid, scoring=scoring, refit=False,
                               cv=[(everything, everything)], error_score=np.nan)
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        # A scorer the estimator cannot serve (no predict_proba) scores NaN, with a warning.
        warnings.simplefilter("ignore", UserWarning)
        grid_search.fit(X, y, sample_domain=sample_domain)
    results = grid_search.cv_results_
    return [(params, {name: float(results[f"split0_test_{name}"][i]) for name in scoring})
            for i, params in enumerate(results["params"])]


def summarise(rows_by_task):
    """Per scorer: mean oracle score of its picks, and tasks where it picks the oracle's."""
    summary = {}
    for name in ("oracle", *LABEL_FREE):
        picked, agree, available = [], 0, True
        for rows in rows_by_task.values():
            scores = np.array([scores[name] for _, scores in rows])
            oracle = np.array([scores["oracle"] for _, scores in rows])
            if np.isnan(scores).all():
                available = False
                break
            choice = int(np.nanargmax(scores))
            picked.append(oracle[choice])
            agree += int(oracle[choice] == oracle.max())
        summary[name] = ({"mean_oracle_of_pick": 100 * float(np.mean(picked)),
                          "tasks_matching_oracle": agree} if available else None)
    summary["mean candidate"] = {"mean_oracle_of_pick": 100 * float(np.mean(
        [np.mean([s["oracle"] for _, s in rows]) for rows in rows_by_task.values()])),
        "tasks_matching_oracle": None}
    return summary


def load_records(path):
    """``{method: {task: [(params, scores), ...]}}`` from the results file, the latest record
    of each (method, task, params, seed) winning."""
    latest = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                r = json.loads(line)
                key = (r["method"], r["task"], json.dumps(r["params"], sort_keys=True), r["seed"])
                latest[key] = r
    grouped = {}
    for r in latest.values():
        grouped.setdefault(r["method"], {}).setdefault(r["task"], []).append(
            (r["params"], r["scores"]))
    return grouped


def write_markdown(path, records):
    """The summary table of every method in ``records`` (see :func:`load_records`)."""
    lines = ["# Label-free model selection", "",
             "Each cell: target score (%) of the candidate the scorer picks, mean over the "
             "method's tasks, and (in brackets) on how many tasks it is the oracle's pick. The "
             "oracle is target accuracy (classifiers), Hungarian accuracy (clusterers) or "
             "pairwise F1 (XDC); \"n/a\": the method has no predict_proba. Reproduce with "
             "`python -m benchmarks.model_selection`.", "",
             "| method | tasks | grid | " + " | ".join(("oracle", *LABEL_FREE, "mean candidate"))
             + " |", "|" + "---|" * (4 + len(LABEL_FREE) + 1)]
    for method in sorted(records):
        by_task = records[method]
        n_tasks = len(by_task)
        summary = summarise(by_task)
        cells = []
        for name in ("oracle", *LABEL_FREE, "mean candidate"):
            cell = summary[name]
            if cell is None:
                cells.append("n/a")
            elif cell["tasks_matching_oracle"] is None:
                cells.append(f"{cell['mean_oracle_of_pick']:.1f}")
            else:
                cells.append(f"{cell['mean_oracle_of_pick']:.1f} "
                             f"({cell['tasks_matching_oracle']}/{n_tasks})")
        grid = SEARCHES[method].grid if method in SEARCHES else {}
        grid_text = "; ".join(f"{k} in {v}" for k, v in grid.items())
        family = sorted({task.split(":")[0] for task in by_task})
        lines.append(f"| {method} | {n_tasks} {'/'.join(family)} | {grid_text} | "
                     + " | ".join(cells) + " |")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="*", default=None, choices=sorted(SEARCHES))
    parser.add_argument("--tasks", nargs="*", default=None,
                        help="SURF task names, e.g. surf:amazon->webcam (default: all 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results-dir", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if os.path.isdir(SHARED_DATA):
        os.environ.setdefault("SKDOMAINCLUST_DATA", SHARED_DATA)

    _, extra_tasks = discover()
    tasks = {**standard_tasks(), **extra_tasks}
    os.makedirs(args.results_dir, exist_ok=True)
    results = os.path.join(args.results_dir, "model_selection.jsonl")
    with open(results, "a", encoding="utf-8") as out:
        for method in args.methods or sorted(SEARCHES):
            search = SEARCHES[method]
            rows_by_task = {}
            for name in args.tasks or search.tasks:
                start = time.perf_counter()
                X, y, sample_domain = tasks[name].load()
                rows_by_task[name] = search_one(search, X, y, sample_domain, args.seed)
                for params, scores in rows_by_task[name]:
                    out.write(json.dumps({"method": method, "task": name, "seed": args.seed,
                                          "params": params, "scores": scores,
                                          "commit": git_commit()}, default=str) + "\n")
                out.flush()
                best = max(rows_by_task[name], key=lambda row: row[1]["oracle"])
                print(f"{method} {name}: {time.perf_counter() - start:.0f} s, oracle best "
                      f"{100 * best[1]['oracle']:.1f} with {best[0]}", flush=True)
    report = os.path.join(args.results_dir, "MODEL_SELECTION.md")
    write_markdown(report, load_records(results))
    print(open(report, encoding="utf-8").read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
