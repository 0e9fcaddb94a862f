"""The growth benchmark: exponents from records, and one real run in its own process."""

import numpy as np
import pytest

growth = pytest.importorskip("benchmarks.growth")

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration


def _record(name, n, seconds, mb, status="ok"):
    return {"estimator": name, "n_rows": n, "status": status, "fit_s": seconds,
            "predict_s": 0.0, "peak_rss_mb": mb}


def test_exponents_are_log_log_slopes_between_the_two_largest_completed_sizes():
    records = [_record("linear", 1000, 1.0, 100.0), _record("linear", 4000, 4.0, 400.0),
               _record("quadratic", 1000, 1.0, 100.0), _record("quadratic", 4000, 16.0, 1600.0),
               _record("quadratic", 16000, 0.0, 0.0, status="MemoryError"),
               _record("once", 1000, 1.0, 100.0)]
    fitted = growth.exponents(records)
    assert fitted["linear"][2:] == pytest.approx((1.0, 1.0))
    assert fitted["quadratic"][:2] == (1000, 4000)  # the failed size is left out
    assert fitted["quadratic"][2:] == pytest.approx((2.0, 2.0))
    assert "once" not in fitted  # one completed size: no slope
    table = "\n".join(growth.growth_table(records))
    assert "MemoryError" in table and "| once | 1.0 / 100 | - | - | - | - |" in table


def test_one_run_measures_time_and_memory_in_a_fresh_process():
    record = growth.measure("SourceOnlyClassifier", 600, timeout=300)
    assert record["status"] == "ok", record
    assert record["fit_s"] > 0 and record["cpu_s"] > 0 and record["peak_rss_mb"] > 50


def test_blobs_split_the_rows_into_equal_shifted_domains():
    X, y, domain = growth.blobs(900, 3)
    assert X.shape == (900, growth.N_FEATURES) and X.dtype == np.float32
    assert np.bincount(domain).tolist() == [300, 300, 300] and set(y) <= set(range(10))
    assert not np.allclose(X[domain == 0].mean(0), X[domain == 2].mean(0), atol=0.5)
