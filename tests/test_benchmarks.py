"""The benchmark runner's plumbing: reference parsing, scoring and the report."""

import json
import time

import numpy as np
import pytest

benchmarks = pytest.importorskip("benchmarks.references")

from benchmarks.references import load_references  # noqa: E402
from benchmarks.report import write_report  # noqa: E402
from benchmarks.run import PeakMemory, score_labels  # noqa: E402

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration


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


def _record(method, task, seed, acc, family="fam"):
    return {"method": method, "task": task, "family": family, "seed": seed, "acc": acc,
            "nmi": 50.0, "pairwise_f1": 0.5, "bcubed_f1": 0.5, "fit_seconds": 2.0,
            "peak_rss_mb": 100.0, "time": "2026-12-02T00:00:00+00:00", "metrics": {}}


def test_league_table_compares_each_method_with_the_best_baseline_on_its_tasks(tmp_path):
    from benchmarks.report import write_league_table

    rows = []
    for seed, (base_b, base_c, weak, good, noisy) in enumerate([
            (50, 70, 10, 70, 20), (52, 72, 12, 72, 90)]):
        rows += [_record("kmeans", "fam:a->b", seed, base_b),
                 _record("kmeans", "fam:a->c", seed, base_c),
                 _record("weak baseline", "fam:a->b", seed, weak),
                 _record("weak baseline", "fam:a->c", seed, weak),
                 _record("good", "fam:a->b", seed, good),
                 _record("good", "fam:a->c", seed, good),
                 _record("noisy", "fam:a->b", seed, noisy)]  # one task only
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    first.write_text("\n".join(json.dumps(r) for r in rows[:7]))
    second.write_text("\n".join(json.dumps(r) for r in rows[7:]))
    out = tmp_path / "RESULTS.md"
    write_league_table([str(first), str(second)], {}, {"kmeans", "weak baseline"}, str(out),
                       command="cmd", commit="abc1234")
    table = out.read_text()
    assert "`cmd` at commit `abc1234`" in table and "`one.jsonl`, `two.jsonl`" in table
    lines = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()
             if line.startswith("| ")}
    # kmeans averages 60 and 62 over the two tasks; "good" 71 +- 1: +10 over 1.4 of spread.
    assert "| 71.0 +- 1.0 | 2 |" in lines["good"]
    assert "kmeans: 61.0" in lines["good"] and "**yes** (+10.0 > 1.4)" in lines["good"]
    # "noisy" ran only a->b: compared with kmeans on a->b (51.0), within its 35.0 spread.
    assert "kmeans: 51.0" in lines["noisy"] and "no (+4.0 vs spread 35.0)" in lines["noisy"]
    assert "(baseline)" in lines["kmeans"]


def test_league_table_keeps_the_latest_record_over_files(tmp_path):
    from benchmarks.report import write_league_table

    old = dict(_record("m", "fam:a->b", 0, 10.0), time="2026-01-01T00:00:00+00:00")
    new = dict(_record("m", "fam:a->b", 0, 30.0), time="2026-06-01T00:00:00+00:00")
    (tmp_path / "a.jsonl").write_text(json.dumps(new))
    (tmp_path / "b.jsonl").write_text(json.dumps(old))
    out = tmp_path / "RESULTS.md"
    write_league_table([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], {}, set(),
                       str(out), command="c", commit="x")
    assert "| m | 30.0 | 30.0 | 1 |" in out.read_text()


OFFICE31_FAMILIES = ("office31", "acids_office31", "retrieval_office31", "office31_crossclass")


def test_office31_tasks_never_pass_target_labels_to_a_method(data_home):
    """Every office31 task of the runner masks the target labels before a method sees them."""
    from benchmarks.methods import discover
    from benchmarks.registry import Method, Outcome
    from benchmarks.run import run_one
    from benchmarks.tasks import standard_tasks

    tasks = {**standard_tasks(), **discover()[1]}
    seen = []

    def spy(task, X, y, sample_domain, seed):
        seen.append((task.name, y.copy(), sample_domain.copy()))
        return Outcome(labels=np.zeros(int((sample_domain < 0).sum()), dtype=int))

    method = Method("spy", spy, {})
    chosen = [task for task in tasks.values() if task.family in OFFICE31_FAMILIES]
    assert {task.family for task in chosen} == set(OFFICE31_FAMILIES)
    for task in chosen:
        X, y, sample_domain = task.load()
        record = run_one(method, task, 0, (X, y, sample_domain))
        assert record["n_target"] == int((sample_domain < 0).sum()) > 0
        name, y_seen, domains_seen = seen[-1]
        assert name == task.name
        assert np.all(y_seen[domains_seen < 0] == -1)
        np.testing.assert_array_equal(y_seen[domains_seen >= 0], y[sample_domain >= 0])
    assert len([task for task in chosen if task.family == "office31"]) == 6


def test_peer_rows_are_skipped_with_a_notice_when_skada_is_absent(monkeypatch):
    from benchmarks.methods import peers
    from benchmarks.registry import Task
    from benchmarks.run import run_one

    monkeypatch.setattr(peers, "_skada", lambda: None)
    task = Task(name="fam:a->b", family="fam", load=None, n_classes=2)
    X = np.zeros((4, 3), dtype=np.float32)
    data = (X, np.array([0, 1, 0, 1]), np.array([0, 0, -1, -1]))
    for method in peers.METHODS:
        assert method.baseline and run_one(method, task, 0, data) is None


def test_importing_the_peers_leaves_metadata_routing_as_it_was():
    import sklearn

    from benchmarks.methods import peers

    before = sklearn.get_config()["enable_metadata_routing"]
    peers._skada()
    assert sklearn.get_config()["enable_metadata_routing"] == before


def test_peer_dann_head_passes_a_reversed_gradient():
    """skada's default head (a softmax over one logit) is constant; the peers' is not."""
    import sklearn
    import torch

    with sklearn.config_context():  # skada switches metadata routing on when imported
        pytest.importorskip("skada")

    from benchmarks.methods.peers import SigmoidDomainClassifier

    torch.manual_seed(0)
    head = SigmoidDomainClassifier(8).train()
    x = torch.randn(16, 8, requires_grad=True)
    out = head(x)
    values = out.detach()
    assert out.shape == (16,) and float(values.min()) > 0 and float(values.max()) < 1
    assert float(values.std()) > 0
    out.sum().backward()
    assert float(x.grad.abs().sum()) > 0


class _Payload:
    """Unpickling it writes a marker file: what a planted cache file could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class _QuickG:
    """A stand-in PairwiseSimilarity: fitting it costs nothing."""

    def __init__(self, **params):
        self.params = params

    def fit(self, X, y):
        self.fitted_ = True
        return self


def test_the_g_cache_never_unpickles_a_planted_file(monkeypatch, tmp_path):
    import pickle

    from benchmarks.methods import ccn

    monkeypatch.setenv("CCN_G_CACHE", str(tmp_path))
    monkeypatch.setattr(ccn, "PairwiseSimilarity", _QuickG)
    monkeypatch.setattr(ccn, "_G_CACHE", {})
    X = np.zeros((6, 2), dtype=np.float32)
    y = np.array([0, 0, 1, 1, 2, 2])
    sample_domain = np.zeros(6, dtype=np.int64)
    marker = tmp_path / "payload-ran"
    path = ccn._g_cache_path(X, y, 0)
    with open(path, "wb") as handle:
        pickle.dump({"G": _Payload(str(marker)), "timings": {}}, handle)
    with pytest.warns(RuntimeWarning, match="not signed"):
        G, timings = ccn._similarity(X, y, sample_domain, 0)
    assert not marker.exists()
    assert isinstance(G, _QuickG) and "g_fit_seconds" in timings
    # What the runner wrote itself is signed, and read back by the next process.
    monkeypatch.setattr(ccn, "_G_CACHE", {})
    again, timings = ccn._similarity(X, y, sample_domain, 0)
    assert timings["g_from_file"] and again.fitted_


def test_a_cache_key_readable_by_others_is_refused(tmp_path):
    from benchmarks import cache

    key = tmp_path / ".key"
    key.write_bytes(b"known to everyone")
    key.chmod(0o644)
    with pytest.raises(PermissionError, match="0600"):
        cache.save(str(tmp_path / "x.pkl"), {"a": 1})


def test_ucdir_defaults_inputs_and_table(tmp_path, capsys):
    """The candidates' inputs are the documented transforms, and the table shows the latest
    record of every candidate, task and seed ("-" where none ran)."""
    from benchmarks import ucdir_defaults

    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3)) * [1.0, 5.0, 0.01] + [0.0, 3.0, 1.0]
    sd = np.repeat([0, -1], 6)
    z = ucdir_defaults.prepare(X, sd, "z")
    centred = ucdir_defaults.prepare(X, sd, "centred")
    for d in (0, -1):
        np.testing.assert_allclose(z[sd == d].std(axis=0), 1, atol=1e-5)
        np.testing.assert_allclose(centred[sd == d].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(centred[sd == d].std(axis=0), X[sd == d].std(axis=0),
                                   rtol=1e-5)
    np.testing.assert_array_equal(ucdir_defaults.prepare(X, sd, "as loaded"),
                                  X.astype(np.float32))
    path = tmp_path / "ucdir_defaults.jsonl"
    task = ucdir_defaults.TASKS[0]
    records = [{"task": task, "seed": 0, "candidate": "z, K and 2K (the default)",
                "P@1": p1, "mAP": 0.5} for p1 in (0.1, 0.9)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    ucdir_defaults.summarise(str(path))
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("| z, K and 2K"))
    assert row.split(" | ")[1] == "0.900 / 0.500" and row.count("| - ") == 3


def test_overhead_probe_reports_median_ratios_over_pairs_that_alternate_who_starts(
        monkeypatch):
    from benchmarks import overhead

    # Scripted pairs: pair i costs the bare loop 1 s of CPU an epoch and ours 1 + i/10
    # (wall twice the CPU).
    firsts = []

    def fake(settings, first):
        pair = len(firsts)
        firsts.append(first)
        ours = 1.0 + pair / 10
        return {"bare": (1.0, 2.0), "skdomainclust": (ours, 2 * ours)}

    monkeypatch.setattr(overhead, "_measure_in_subprocess", fake)
    record = overhead.measure(n_samples=64, n_features=4, pairs=5)
    assert firsts == [0, 1, 0, 1, 0]
    assert record["cpu_ratios"] == [1.0, 1.1, 1.2, 1.3, 1.4]
    assert record["ratio"] == 1.2 and record["wall_ratio"] == 1.2
    assert record["bare_torch_epoch_cpu_s"] == 1.0
    assert record["skdomainclust_epoch_wall_s"] == 2.4


def test_overhead_epochs_take_turns_and_each_loop_keeps_its_own_time(monkeypatch):
    from benchmarks import overhead

    # Scripted loops on a scripted clock: "a" costs 1 s of CPU an epoch, "b" 3 s; wall time
    # is twice the CPU. The turns alternate who goes first.
    clock = {"cpu": 0.0, "wall": 0.0}
    order = []

    class Scripted:
        def __init__(self, name, cost):
            self.name, self.cost = name, cost

        def epoch(self):
            order.append(self.name)
            clock["cpu"] += self.cost
            clock["wall"] += 2 * self.cost

    monkeypatch.setattr(overhead.time, "process_time", lambda: clock["cpu"])
    monkeypatch.setattr(overhead.time, "perf_counter", lambda: clock["wall"])
    loops = {"a": Scripted("a", 1.0), "b": Scripted("b", 3.0)}
    costs = overhead.interleaved_epochs(loops, 3, first=1)
    assert order == ["b", "a", "a", "b", "b", "a"]
    assert costs == {"a": (1.0, 2.0), "b": (3.0, 6.0)}


def test_overhead_loops_train_the_same_network():
    from benchmarks import overhead

    X, y = overhead.make_data(256, 8)
    kwargs = dict(hidden_dims=(16,), batch_size=64, lr=1e-3, device="cpu")
    bare, ours = (loop(X, y, **kwargs) for loop in overhead.LOOPS.values())
    shapes = [[tuple(p.shape) for p in module.parameters()]
              for module in (bare.module, ours.clf.net_.module_)]
    assert shapes[0] == shapes[1]
    history = len(ours.clf.net_.history)
    bare.epoch()
    ours.epoch()
    assert len(ours.clf.net_.history) == history + 1  # one skorch epoch per call


def test_ccn_digits_tasks_split_by_class_and_mask_the_target():
    from benchmarks.methods import discover
    from benchmarks.registry import Method, Outcome
    from benchmarks.run import run_one

    tasks = {name: task for name, task in discover()[1].items()
             if task.family == "ccn_digits"}
    assert sorted(tasks) == ["ccn_digits:0-4->5-9", "ccn_digits:5-9->0-4"]
    seen = []

    def spy(task, X, y, sample_domain, seed):
        seen.append((y.copy(), sample_domain.copy()))
        return Outcome(labels=np.zeros(int((sample_domain < 0).sum()), dtype=int))

    for name, task in tasks.items():
        X, y, sample_domain = task.load()
        auxiliary = {0, 1, 2, 3, 4} if name.startswith("ccn_digits:0-4") else {5, 6, 7, 8, 9}
        assert set(y[sample_domain >= 0]) == auxiliary
        assert set(y[sample_domain < 0]) == set(range(10)) - auxiliary
        assert task.n_classes == 5 and len(X) == len(y) == 1797
        run_one(Method("spy", spy, {}), task, 0, (X, y, sample_domain))
        y_seen, domains_seen = seen[-1]
        assert np.all(y_seen[domains_seen < 0] == -1)


def test_league_table_shows_cpu_seconds_and_the_cost_over_the_mcc_peer(tmp_path):
    from benchmarks.report import COST_PEER, write_league_table

    rows = [dict(_record(COST_PEER, "fam:a->b", 0, 50.0), fit_seconds=2.0, cpu_seconds=1.0),
            dict(_record(COST_PEER, "fam:a->c", 0, 50.0), fit_seconds=2.0, cpu_seconds=3.0),
            dict(_record("costly", "fam:a->b", 0, 60.0), fit_seconds=8.0, cpu_seconds=4.0),
            dict(_record("costly", "fam:a->c", 0, 60.0), fit_seconds=8.0, cpu_seconds=8.0),
            dict(_record("old", "fam:a->b", 0, 55.0), fit_seconds=5.0),  # no CPU recorded
            _record("elsewhere", "fam:x->y", 0, 55.0)]  # no task shared with the peer
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "RESULTS.md"
    write_league_table([str(tmp_path / "r.jsonl")], {}, {COST_PEER}, str(out),
                       command="c", commit="x")
    lines = {line.split(" | ")[0].strip("| "): line for line in out.read_text().splitlines()
             if line.startswith("| ")}
    assert "| 8.0 | 6.0 | 3.00 (CPU) |" in lines["costly"]  # (4 + 8) / (1 + 3)
    assert "| 5.0 | - | 2.50 (wall) |" in lines["old"]      # 5 / 2 on the one shared task
    assert "| 2.0 | - | - |" in lines["elsewhere"]
    assert "| 1.00 (CPU) |" in lines[COST_PEER]
