import numpy as np
import pytest

from skdomainclust.__main__ import build_parser, main
from skdomainclust._demo import ENTRIES, load_demo_data, run_demo

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration


def test_demo_data_masks_target_labels_and_has_two_unlabelled_sources():
    data, y_true = load_demo_data()
    target = data.sample_domain < 0
    assert (data.y[target] == -1).all() and (data.y[~target] >= 0).all()
    assert len(y_true) == target.sum()
    X_multi, domains = data.multi_source
    assert set(np.unique(domains)) == {-1, 0, 1}
    np.testing.assert_array_equal(X_multi[domains < 0], data.X[target])


def test_demo_prints_a_row_per_method(capsys):
    entries = [e for e in ENTRIES if "k-means" in e.name or "1-NN" in e.name]
    rows = run_demo(entries=entries, progress=False)
    out = capsys.readouterr().out
    for entry in entries:
        assert entry.name in out
    kmeans = next(r for r in rows if "k-means" in r["method"])
    assert kmeans["acc"] > 40  # 10 classes: chance is about 10%


def test_cli_requires_a_command_and_documents_demo():
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
    assert "demo" in build_parser().format_help()


def test_cli_demo_runs(monkeypatch, capsys):
    import skdomainclust._demo as demo

    monkeypatch.setattr(demo, "ENTRIES", [e for e in ENTRIES if "1-NN" in e.name])
    assert main(["demo", "--no-progress", "--target", "noisy"]) == 0
    assert "1-NN" in capsys.readouterr().out


def test_the_verdict_names_the_best_baseline_and_what_beats_it():
    from skdomainclust._demo import verdict

    rows = [{"method": "k-means", "baseline": True, "acc": 75.0},
            {"method": "1-NN", "baseline": True, "acc": 47.4},
            {"method": "A", "baseline": False, "acc": 75.8},
            {"method": "B", "baseline": False, "acc": 60.0}]
    text = verdict(rows)
    assert text.startswith("Best baseline: k-means, ACC 75.0. Above it: A (75.8).")
    assert "1 of 2 methods do not" in text and "RESULTS.md" in text
    rows[2]["acc"] = 70.0
    assert "No method beats it here." in verdict(rows)


def test_the_demo_prints_the_verdict(capsys):
    entries = [e for e in ENTRIES if "k-means" in e.name or "1-NN" in e.name]
    run_demo(entries=entries, progress=False)
    # Baselines only: no verdict to give, and none is printed.
    assert "Best baseline" not in capsys.readouterr().out
