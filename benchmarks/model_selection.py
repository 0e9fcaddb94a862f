"""Which hyperparameters do the label-free scorers pick, beside the labelled (oracle) scorer?

``python -m benchmarks.model_selection [--methods ...] [--families ...] [--tasks ...] [--seed 0]``

For each method, a small grid over its most sensitive hyperparameter is searched on every task
of its families with ``GridSearchCV`` under metadata routing and one
:class:`~skdomainclust.model_selection.SourceHoldOut` split: each candidate fits on every target
row (labels masked by the estimator's contract) and 80 % of the source rows; the held-out 20 %
of the source rows serve the ``source_*`` scorers, the target rows every other scorer. The
oracle (target accuracy, or Hungarian accuracy / pairwise F1 for clusterers) reads the true
target labels; no other scorer does. Per scorer the report gives the oracle score of the
candidate it picks averaged over the family's tasks, the regret (the oracle's own pick minus
that), on how many tasks it picks the oracle's candidate, and its Spearman rank correlation
with the oracle over the candidates (mean over tasks); "mean candidate" is what a random pick
gets on average. A scorer a method cannot serve (no ``predict_proba``, no source labels) is
not run for it.

Appends to ``benchmarks/results/model_selection_holdout.jsonl`` (one line per method, task,
candidate, seed) and rewrites ``benchmarks/results/MODEL_SELECTION.md``. The earlier protocol
(every source row in ``fit``, three label-free scorers) is kept in ``model_selection.jsonl``.
"""

import argparse
import functools
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import sklearn
import torch
from scipy.stats import spearmanr
from sklearn.model_selection import GridSearchCV

from skdomainclust.metrics import get_scorer
from skdomainclust.model_selection import OneStandardErrorRule, SourceHoldOut

from .methods import discover
from .report import git_commit
from .run import RESULTS_DIR, SHARED_DATA

#: Label-free target scorers: what every method can be searched with.
TARGET_FREE = ("unsupervised_entropy", "unsupervised_snd", "unsupervised_kmeans_agreement",
               "unsupervised_bnm", "unsupervised_class_ami")
#: Of those, the ones that need only ``predict`` and an embedding.
LABELS_ONLY = ("unsupervised_kmeans_agreement", "unsupervised_class_ami")
#: Scorers of held-out source rows, for classifiers trained on source labels.
SOURCE = ("source_accuracy", "source_iwv_accuracy", "source_dev")
#: The one-standard-error rule on held-out source accuracy (for the methods that name the
#: parameter ordering their candidates by regularisation): a pseudo-score, 1 on its pick.
RULE = "source_accuracy + 1-SE rule"
LABEL_FREE = TARGET_FREE + SOURCE + ("source_pairwise_f1", RULE)
HOLDOUT = 0.2


@dataclass(frozen=True)
class Search:
    """One method's search: how to build it, what to vary, how the oracle scores it, which
    label-free scorers apply, and on which task families.

    ``oracle`` is ``"target_accuracy"`` for classifiers, ``"target_cluster_accuracy"`` (or
    ``"target_pairwise_f1"`` for methods scored by it) for clusterers. ``needs_k``: the
    method is given the family's number of classes as ``n_clusters``. ``regularises``:
    ``(param, "larger" | "smaller")``, the direction of stronger regularisation, for the
    one-standard-error rule on held-out source accuracy.
    """

    make: callable
    grid: dict
    oracle: str
    scorers: tuple = TARGET_FREE + SOURCE
    families: tuple = ("surf", "office31", "digits")
    needs_k: bool = False
    regularises: tuple = None

    @property
    def selectors(self):
        """The scorers, and the rule where the method names its direction."""
        return self.scorers + ((RULE,) if self.regularises else ())


def _maker(name, **fixed):
    def make(seed):
        import skdomainclust

        return getattr(skdomainclust, name)(random_state=seed, **fixed)

    return make


_source_only = _maker("SourceOnlyClassifier")

# Small grids (two to four candidates) over the parameter each method is most sensitive to,
# so that a whole table stays affordable on a CPU.
SEARCHES = {
    "SourceOnlyClassifier": Search(_source_only, {"lr": [1e-4, 1e-3, 1e-2]},
                                   "target_accuracy", regularises=("lr", "smaller")),
    "SRDCAdapter": Search(_maker("SRDCAdapter"),
                          {"input_dropout": [0.0, 0.3, 0.5, 0.7]},
                          "target_accuracy", regularises=("input_dropout", "larger")),
    "CCNAdapter": Search(_maker("CCNAdapter"), {"cluster_weight": [0.3, 1.0, 3.0]},
                         "target_accuracy"),
    "ACIDSClusterer": Search(_maker("ACIDSClusterer"),
                             {"domain_weight": [1.0, 10.0]}, "target_cluster_accuracy",
                             TARGET_FREE, ("acids_surf", "acids_office31"), needs_k=True),
    "XDCClusterer": Search(_maker("XDCClusterer"), {"adversarial_weight": [0.03, 0.1, 0.3]},
                           "target_pairwise_f1", LABELS_ONLY + ("source_pairwise_f1",),
                           ("surf", "office31")),
    "UCDIRRetriever": Search(_maker("UCDIRRetriever"),
                             {"cluster_weight": [0.5, 1.0]}, "target_cluster_accuracy",
                             LABELS_ONLY, ("surf",), needs_k=True),
}

#: Classes of each family, for the clusterers that need their number.
N_CLASSES = {"surf": 10, "acids_surf": 10, "acids_office31": 31, "office31": 31, "digits": 10}


def search_one(search, X, y, sample_domain, seed, n_clusters=None):
    """Fit every candidate once (one :class:`SourceHoldOut` split); return
    ``(params, {scorer: score}, fit_seconds)`` rows."""
    scoring = {"oracle": get_scorer(search.oracle),
               **{name: get_scorer(name) for name in search.scorers}}
    estimator = search.make(seed)
    if search.needs_k:
        estimator.set_params(n_clusters=n_clusters)
    grid_search = GridSearchCV(estimator, search.grid, scoring=scoring, refit=False,
                               cv=SourceHoldOut(test_size=HOLDOUT, random_state=seed),
                               error_score=np.nan)
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        grid_search.fit(X, y, sample_domain=sample_domain)
    results = grid_search.cv_results_
    return [(params, {name: float(results[f"split0_test_{name}"][i]) for name in scoring},
             float(results["mean_fit_time"][i]))
            for i, params in enumerate(results["params"])]


def summarise(rows_by_task, scorers=LABEL_FREE):
    """Per scorer: mean oracle score of its picks (x100), regret to the oracle's pick,
    tasks where it picks the oracle's candidate, and mean Spearman correlation with the
    oracle across candidates. A scorer with no finite score on some task is left out."""
    summary = {}
    oracle_best = np.mean([max(s["oracle"] for _, s in rows) for rows in
                           rows_by_task.values()])
    for name in ("oracle", *scorers):
        picked, agree, rhos = [], 0, []
        for rows in rows_by_task.values():
            scores = np.array([s.get(name, np.nan) for _, s in rows], dtype=float)
            oracle = np.array([s["oracle"] for _, s in rows], dtype=float)
            if not np.isfinite(scores).any():
                break
            choice = int(np.nanargmax(scores))
            picked.append(oracle[choice])
            agree += int(oracle[choice] == oracle.max())
            finite = np.isfinite(scores)
            if name != RULE and finite.sum() > 1 and np.ptp(scores[finite]) > 0 \
                    and np.ptp(oracle) > 0:
                rhos.append(spearmanr(scores[finite], oracle[finite]).statistic)
        else:
            summary[name] = {"mean_oracle_of_pick": 100 * float(np.mean(picked)),
                             "regret": 100 * float(oracle_best - np.mean(picked)),
                             "tasks_matching_oracle": agree,
                             "rank_correlation": float(np.mean(rhos)) if rhos else None}
    summary["mean candidate"] = {"mean_oracle_of_pick": 100 * float(np.mean(
        [np.mean([s["oracle"] for _, s in rows]) for rows in rows_by_task.values()])),
        "tasks_matching_oracle": None}
    summary["mean candidate"]["regret"] = (100 * float(oracle_best)
                                           - summary["mean candidate"]["mean_oracle_of_pick"])
    return summary


#: Seeds whose searches choose the recommended scorer of each method; later seeds check it.
SELECTION_SEEDS = (0, 1)


def load_records(path):
    """``{method: {family: {seed: {task: [(params, scores), ...]}}}}`` from the results
    file, the latest record of each (method, task, params, seed) winning."""
    latest = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                r = json.loads(line)
                key = (r["method"], r["task"], json.dumps(r["params"], sort_keys=True), r["seed"])
                latest[key] = r
    grouped = {}
    for r in latest.values():
        family = r["task"].split(":")[0]
        grouped.setdefault(r["method"], {}).setdefault(family, {}).setdefault(
            r["seed"], {}).setdefault(r["task"], []).append((r["params"], r["scores"]))
    return grouped


def held_out_source_rows(sample_domain, seed):
    """Source rows the benchmark's :class:`SourceHoldOut` split holds out for ``seed``."""
    _, test = next(SourceHoldOut(test_size=HOLDOUT, random_state=seed).split(
        np.zeros((len(sample_domain), 1)), sample_domain=sample_domain))
    return int(np.sum(sample_domain[test] >= 0))


def add_rule_scores(records, n_held_out):
    """Add the one-standard-error rule's pseudo-score (1 on its pick, 0 elsewhere) to every
    candidate of the methods that name their regularisation direction.
    ``n_held_out(task, seed)`` gives the held-out source rows of a search."""
    for method, by_family in records.items():
        search = SEARCHES.get(method)
        if search is None or search.regularises is None:
            continue
        param, prefer = search.regularises
        for by_seed in by_family.values():
            for seed, by_task in by_seed.items():
                for task, rows in by_task.items():
                    results = {"params": [params for params, _ in rows],
                               "mean_test_acc": [scores["source_accuracy"]
                                                 for _, scores in rows]}
                    rule = OneStandardErrorRule("acc", param, prefer=prefer,
                                                n_scored=n_held_out(task, seed))
                    pick = rule(results)
                    for i, (_, scores) in enumerate(rows):
                        scores[RULE] = float(i == pick)
    return records


def _pooled(by_seed, seeds=None):
    """``{(task, seed): rows}`` over the given seeds (all when None)."""
    return {(task, seed): rows for seed, by_task in by_seed.items()
            if seeds is None or seed in seeds for task, rows in by_task.items()}


def recommend(by_family, scorers):
    """The scorer with the lowest regret averaged over the families, on the selection seeds
    only (None when no selection seed ran)."""
    regrets = {}
    for by_seed in by_family.values():
        pooled = _pooled(by_seed, SELECTION_SEEDS)
        if not pooled:
            continue
        summary = summarise(pooled, scorers)
        for name in scorers:
            if name in summary:
                regrets.setdefault(name, []).append(summary[name]["regret"])
    n_families = max((len(values) for values in regrets.values()), default=0)
    complete = {name: np.mean(values) for name, values in regrets.items()
                if len(values) == n_families}
    return min(complete, key=complete.get) if complete else None


def _cell(entry, digits=1):
    return "n/a" if entry is None else f"{entry:.{digits}f}"


def write_markdown(path, records):
    """The report of every method in ``records`` (see :func:`load_records`)."""
    lines = [
        "# Label-free model selection", "",
        f"Each candidate of a small grid is fitted once on every target row and "
        f"{100 * (1 - HOLDOUT):.0f} % of the source rows (`SourceHoldOut`); the held-out source "
        "rows feed the `source_*` scorers, the target rows the `unsupervised_*` ones, and the "
        "oracle (target accuracy, Hungarian accuracy or pairwise F1, in %) is the only one that "
        "reads target labels. *Pick*: oracle score of the scorer's pick, mean over tasks "
        "and seeds; *regret*: the oracle's own pick minus that; *matches*: tasks where it "
        "picks the oracle's candidate; *rho*: Spearman correlation with the oracle over the "
        "candidates, mean over tasks. The recommended scorer of a method is the one with "
        f"the lowest regret averaged over its families on seeds {list(SELECTION_SEEDS)} "
        "(later seeds check it). Reproduce with `python -m benchmarks.model_selection`; "
        f"commit {git_commit()}.", "",
        "## Summary", "",
        "Regrets on the selection seeds (0-1) and, apart, on seed 2: the check the "
        "recommendation never saw. *Beats mean*: the recommended scorer's pick scores above "
        "the mean candidate (all seeds).", "",
        "| method | family | tasks x seeds | oracle | mean candidate | recommended scorer | "
        "its pick | its regret, seeds 0-1 | its regret, seed 2 | beats mean | "
        "best scorer, seeds 0-1 (regret) | fit s / candidate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    details, overall = [], {}
    for method in sorted(records):
        search = SEARCHES.get(method)
        scorers = search.selectors if search else LABEL_FREE
        recommended = recommend(records[method], scorers)
        for family in sorted(records[method]):
            by_seed = records[method][family]
            pooled = _pooled(by_seed)
            summary = summarise(pooled, scorers)
            selection = _pooled(by_seed, SELECTION_SEEDS)
            chosen = summarise(selection, scorers) if selection else {}
            checks = {seed: rows for seed, rows in by_seed.items()
                      if seed not in SELECTION_SEEDS}
            check = summarise(_pooled(checks), scorers) if checks else {}
            for name in scorers:
                if name in summary:
                    overall.setdefault(name, []).append(summary[name]["regret"])
            if recommended in summary:
                overall.setdefault("recommended (per method)", []).append(
                    summary[recommended]["regret"])
            overall.setdefault("mean candidate", []).append(summary["mean candidate"]["regret"])
            available = [name for name in scorers if name in chosen]
            best = min(available, key=lambda name: chosen[name]["regret"], default=None)
            rec = summary.get(recommended)
            beats = rec and rec["mean_oracle_of_pick"] > \
                summary["mean candidate"]["mean_oracle_of_pick"]
            lines.append(
                f"| {method} | {family} | {len(pooled)} (seeds {sorted(by_seed)}) | "
                f"{summary['oracle']['mean_oracle_of_pick']:.1f} | "
                f"{summary['mean candidate']['mean_oracle_of_pick']:.1f} | "
                f"{recommended or 'n/a'} | {_cell(rec and rec['mean_oracle_of_pick'])} | "
                f"{_cell(chosen.get(recommended, {}).get('regret'))} | "
                f"{_cell(check.get(recommended, {}).get('regret'))} | "
                f"{'n/a' if rec is None else ('yes' if beats else '**no**')} | "
                + (f"{best} ({chosen[best]['regret']:.1f})" if best else "n/a")
                + f" | {_fit_seconds(by_seed):.1f} |")
            grid = search.grid if search else {}
            details += ["", f"### {method}, {family} (seeds {sorted(by_seed)}): "
                        + "; ".join(f"{k} in {v}" for k, v in grid.items()), "",
                        "| scorer | pick | regret | matches | rho |", "|---|---|---|---|---|"]
            for name in ("oracle", *available, "mean candidate"):
                entry = summary.get(name)
                if entry is None:  # scored on the selection seeds, on no task of a later one
                    details.append(f"| {name} | n/a | n/a | | |")
                    continue
                matches = entry["tasks_matching_oracle"]
                details.append(
                    f"| {name} | {entry['mean_oracle_of_pick']:.1f} | {entry['regret']:.1f} | "
                    + ("" if matches is None else f"{matches}/{len(pooled)}")
                    + f" | {_cell(entry.get('rank_correlation'), 2)} |")
    lines += ["", "## Overall", "",
              "Mean regret over every method and family a scorer serves (all seeds), and the "
              "mean regret of each method's recommended scorer.", "",
              "| scorer | method-family pairs | mean regret |", "|---|---|---|"]
    for name, regrets in sorted(overall.items(), key=lambda item: np.mean(item[1])):
        lines.append(f"| {name} | {len(regrets)} | {np.mean(regrets):.2f} |")
    lines += ["", "## Per method and family", *details]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _fit_seconds(by_seed):
    times = [scores.get("fit_seconds", np.nan) for by_task in by_seed.values()
             for rows in by_task.values() for _, scores in rows]
    return float(np.nanmean(times)) if np.isfinite(times).any() else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="*", default=None, choices=sorted(SEARCHES))
    parser.add_argument("--families", nargs="*", default=None,
                        help="task families (default: each method's own)")
    parser.add_argument("--tasks", nargs="*", default=None,
                        help="task names, e.g. surf:amazon->webcam (default: every task of "
                             "the families)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results-dir", default=RESULTS_DIR)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from the results file, run nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if os.path.isdir(SHARED_DATA):
        os.environ.setdefault("SKDOMAINCLUST_DATA", SHARED_DATA)

    os.makedirs(args.results_dir, exist_ok=True)
    results = os.path.join(args.results_dir, "model_selection_holdout.jsonl")
    if not args.report_only:
        _run(args, results)
    report = os.path.join(args.results_dir, "MODEL_SELECTION.md")
    write_markdown(report, add_rule_scores(load_records(results), _held_out_counter()))
    print(open(report, encoding="utf-8").read())
    return 0


def _held_out_counter():
    from .tasks import standard_tasks

    tasks = standard_tasks()

    @functools.cache
    def domains(task):  # loaded once per task, not once per (task, seed)
        return tasks[task].load()[2]

    def count(task, seed):
        return held_out_source_rows(domains(task), seed)

    return count


def _run(args, results):
    from .tasks import standard_tasks

    _, extra_tasks = discover()
    tasks = {**standard_tasks(), **extra_tasks}
    with open(results, "a", encoding="utf-8") as out:
        for method in args.methods or sorted(SEARCHES):
            search = SEARCHES[method]
            families = args.families or search.families
            names = args.tasks or [name for name in tasks if name.split(":")[0] in families]
            for name in names:
                start = time.perf_counter()
                X, y, sample_domain = tasks[name].load()
                family = name.split(":")[0]
                rows = search_one(search, X, y, sample_domain, args.seed,
                                  n_clusters=N_CLASSES.get(family))
                # One write per task: two searches may append to the same file at once.
                out.write("".join(json.dumps({"method": method, "task": name, "seed": args.seed,
                                              "params": params,
                                              "scores": {**scores, "fit_seconds": seconds},
                                              "commit": git_commit()}, default=str) + "\n"
                                  for params, scores, seconds in rows))
                out.flush()
                best = max(rows, key=lambda row: row[1]["oracle"])
                print(f"{method} {name}: {time.perf_counter() - start:.0f} s, oracle best "
                      f"{100 * best[1]['oracle']:.1f} with {best[0]}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
