"""The benchmark runner.

Runs methods on tasks and seeds, and appends one JSON line per (method, task, seed) to
``benchmarks/results/results.jsonl`` (or ``--results``) with ACC, NMI, pairwise F1, BCubed F1,
fit seconds, peak memory (RSS, and CUDA when used), the device and the commit. Then rebuilds
the markdown report of that file and, for a file in ``benchmarks/results``, the league table
``benchmarks/results/RESULTS.md`` over every results file there (see ``benchmarks.report``).

Examples
--------
::

    python -m benchmarks.run --suite quick
    python -m benchmarks.run --suite full --methods "k-means (target, true K)" "1-NN"
    python -m benchmarks.run --suite full --tasks surf --seeds 0 1 2
    python -m benchmarks.run --micro          # speed micro-benchmarks only
"""

import argparse
import datetime
import json
import os
import sys
import threading
import time

import numpy as np
import torch

from skdomainclust.metrics import (
    bcubed_f1,
    cluster_accuracy,
    nmi,
    pairwise_f1,
)

from .methods import discover
from .report import git_commit, write_all, write_report
from .tasks import standard_tasks

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")
# The benchmark sets sit beside the checkout; the runner (unlike the package) may look there.
SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                           "data"))
RESULTS_FILE = os.path.join(RESULTS_DIR, "results.jsonl")


class PeakMemory:
    """Peak resident memory of this process while the block runs, sampled every 10 ms.

    ``ru_maxrss`` only gives the lifetime peak of the process, which would charge every run with
    the largest one before it; sampling ``/proc/self/statm`` measures each run on its own.
    CUDA peaks come from torch's allocator statistics.
    """

    def __init__(self, interval=0.01):
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self):
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * self.page
        except OSError:  # not Linux: fall back to the lifetime peak
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.cuda_peak = (torch.cuda.max_memory_allocated() if torch.cuda.is_available()
                          else None)
        return False


def score_labels(y_true, labels, *, labels_are_classes):
    """The clustering metrics of one run (ACC is plain accuracy for class predictions)."""
    acc = (float(np.mean(labels == y_true)) if labels_are_classes
           else cluster_accuracy(y_true, labels))
    return {
        "acc": 100.0 * acc,
        "nmi": 100.0 * nmi(y_true, labels),
        "pairwise_f1": pairwise_f1(y_true, labels),
        "bcubed_f1": bcubed_f1(y_true, labels),
        "n_clusters_pred": int(len(np.unique(labels))),
    }


def run_one(method, task, seed, data):
    """Run ``method`` on ``task`` with ``seed``; return the JSON record (None: skipped)."""
    X, y, sample_domain = data
    target = sample_domain < 0
    masked = np.where(target, -1, y)  # target labels never reach a method
    with PeakMemory() as memory:
        start, cpu_start = time.perf_counter(), time.process_time()
        outcome = method.run(task, X, masked, sample_domain, seed)
        seconds = time.perf_counter() - start
        # Per-process CPU (every thread): comparable between rows run under different loads,
        # where wall time is not.
        cpu_seconds = time.process_time() - cpu_start
    if outcome is None:  # the method cannot run here (an optional peer library is absent)
        return None
    record = {
        "method": method.name,
        "task": task.name,
        "family": task.family,
        "seed": seed,
        "n_target": int(target.sum()),
        "fit_seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "peak_rss_mb": round(memory.peak / 2**20, 1),
        "cuda_peak_mb": (None if memory.cuda_peak is None
                         else round(memory.cuda_peak / 2**20, 1)),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "commit": git_commit(),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if outcome.labels is not None:
        labels = np.asarray(outcome.labels)
        if labels.shape != (target.sum(),):
            raise ValueError(f"{method.name} returned {labels.shape} labels for "
                             f"{target.sum()} target rows on {task.name}.")
        record.update(score_labels(y[target], labels,
                                   labels_are_classes=method.labels_are_classes))
    record["metrics"] = outcome.metrics
    return record


def select_tasks(method, suite, all_tasks, task_filter):
    """Task names of ``method`` in ``suite`` (families expanded), filtered by ``--tasks``
    (task names, family names or data sets: ``office31`` selects every Office-31 protocol)."""
    names = []
    for entry in method.suites.get(suite, []):
        if entry in all_tasks:
            names.append(entry)
        else:
            family = [name for name, task in all_tasks.items() if task.family == entry]
            if not family:
                raise KeyError(f"{method.name}: unknown task or family {entry!r}")
            names.extend(family)
    if task_filter:
        names = [n for n in names if n in task_filter or all_tasks[n].family in task_filter
                 or all_tasks[n].dataset in task_filter]
    return list(dict.fromkeys(names))


def run_micro(out):
    """Speed micro-benchmarks: metric scaling, training overhead, propagation (if present)."""
    from . import metrics_speed, overhead

    records = [metrics_speed.measure(), overhead.measure()]
    try:
        from . import propagation
    except ImportError:
        propagation = None
    if propagation is not None:
        records.append(propagation.measure())
    for record in records:
        record["commit"] = git_commit()
        write_record(out, record)


def write_record(out, record, shown=None):
    """Append ``record`` to the open results file ``out`` as one JSON line, flushed at once
    (an interrupted run keeps what it measured), and print ``shown`` (default: the record)."""
    out.write(json.dumps(record) + "\n")
    out.flush()
    print(json.dumps(record if shown is None else shown), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run skdomainclust benchmarks.")
    parser.add_argument("--suite", choices=["quick", "full"], default=None)
    parser.add_argument("--methods", nargs="*", default=None, help="method names (default: all)")
    parser.add_argument("--tasks", nargs="*", default=None, help="task or family names")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--micro", action="store_true", help="run the speed micro-benchmarks")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: comparable timings)")
    parser.add_argument("--list", action="store_true", help="list methods and tasks, then exit")
    parser.add_argument("--results", default=RESULTS_FILE)
    parser.add_argument("--data-home", default=None,
                        help="benchmark data folder (default: $SKDOMAINCLUST_DATA, else "
                        "../shared/data beside the checkout)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.data_home:
        os.environ["SKDOMAINCLUST_DATA"] = args.data_home
    elif os.path.isdir(SHARED_DATA):
        os.environ.setdefault("SKDOMAINCLUST_DATA", SHARED_DATA)

    methods, extra_tasks = discover()
    methods_all = dict(methods)
    all_tasks = {**standard_tasks(), **extra_tasks}
    if args.list:
        for name, method in methods.items():
            print(f"{name}: {method.suites}")
        print("tasks:", ", ".join(all_tasks))
        return 0
    if args.methods:
        unknown = set(args.methods) - set(methods)
        if unknown:
            parser.error(f"unknown methods {sorted(unknown)}; --list shows them")
        methods = {name: methods[name] for name in args.methods}

    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "a", encoding="utf-8") as out:
        if args.micro or args.suite:
            if args.micro or not args.methods:
                run_micro(out)
        if args.suite:
            cache = {}
            for method in methods.values():
                for name in select_tasks(method, args.suite, all_tasks, args.tasks):
                    task = all_tasks[name]
                    if name not in cache:
                        cache[name] = task.load()
                    for seed in args.seeds:
                        record = run_one(method, task, seed, cache[name])
                        if record is None:
                            print(f"skipped: {method.name} on {name}", flush=True)
                            continue
                        write_record(out, record, {k: record.get(k) for k in (
                            "method", "task", "seed", "acc", "nmi", "fit_seconds")})
    if os.path.abspath(os.path.dirname(args.results)) == os.path.abspath(RESULTS_DIR):
        # A run into benchmarks/results refreshes every report and the league table.
        for report in write_all(RESULTS_DIR, all_tasks, methods_all):
            print(f"report: {report}")
    else:
        print(f"report: {write_report(args.results, all_tasks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
