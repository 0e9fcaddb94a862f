"""The benchmark runner's plumbing: reference parsing, scoring and the report."""

import json
import time

import numpy as np
import pytest

benchmarks = pytest.importorskip("benchmarks.references")

from benchmarks.references import load_references  # noqa: E402
from benchmarks.report import write_report  # noqa: E402
from benchmarks.run import PeakMemory, score_labels  # noqa: E402


def test_published_numbers_are_parsed(data_home):
    references = load_references(data_home)
    assert references["surf:amazon->webcam"]["MEDA (ACM MM 2018)"] == 53.2
    assert references["surf:webcam->dslr"]["1NN (ACM MM 2018)"] == 59.2
    assert references["digits:usps->mnist"]["JDA (ICCV 2013)"] == 59.65
    assert references["digits:mnist->usps"]["MEDA (ACM MM 2018)"] == 89.5
    assert references["decaf:dslr->webcam"]["MEDA (ACM MM 2018)"] == 97.6


def test_scores_use_plain_accuracy_for_classes_and_hungarian_for_clusters():
    y = np.array([0, 0, 1, 1])
    swapped = np.array([1, 1, 0, 0])
    assert score_labels(y, swapped, labels_are_classes=True)["acc"] == 0.0
    assert score_labels(y, swapped, labels_are_classes=False)["acc"] == 100.0


def test_peak_memory_sees_a_freed_allocation():
    with PeakMemory() as idle:
        time.sleep(0.05)
    with PeakMemory() as busy:
        block = np.ones(200 * 2**20 // 8)  # 200 MB, touched, then released
        time.sleep(0.05)
        del block
    assert busy.peak - idle.peak > 150 * 2**20


def test_report_averages_seeds_and_tasks(tmp_path):
    records = [
        {"method": "m", "task": f"fam:a->{t}", "family": "fam", "seed": s, "acc": acc,
         "nmi": 50.0, "pairwise_f1": 0.5, "bcubed_f1": 0.5, "fit_seconds": 1.0,
         "peak_rss_mb": 100.0, "metrics": {"P@1": 0.25}}
        for t, s, acc in [("b", 0, 40.0), ("c", 0, 60.0), ("b", 1, 50.0), ("c", 1, 70.0)]
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    report = open(write_report(str(path), {})).read()
    assert "| m | 45.0 | 65.0 | 55.0 +- 5.0 | 2 |" in report
    assert "P@1" in report


def test_report_averages_method_metrics_and_names_its_file_after_the_results(tmp_path):
    records = [
        {"method": "r", "task": f"ret:a->{t}", "family": "ret", "seed": 0,
         "fit_seconds": 1.0, "peak_rss_mb": 100.0, "metrics": {"P@5": p5, "P@1": p1}}
        for t, p1, p5 in [("b", 0.2, 0.1), ("c", 0.4, 0.3)]
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    out = write_report(str(path), {})
    assert out == str(tmp_path / "mine.md")  # a targeted run never overwrites RESULTS.md
    report = open(out).read()
    assert "| method | task | P@5 | P@1 |" in report  # recorded order, not sorted
    assert "| r | Avg | 0.200 | 0.300 |" in report
