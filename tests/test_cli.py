"""``python -m skdomainclust cluster``: feature files in, labels CSV (and metrics) out."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

from skdomainclust.__main__ import build_parser, main
from skdomainclust._cli import read_features, run_cluster

from ._cases import make_shifted_blobs

#: Whole workflows (the CLI, the demo, the benchmark runner, real data): see CONTRIBUTING.md.
pytestmark = pytest.mark.integration


def _read_labels(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "label"]
    return np.array([int(label) for _, label in rows[1:]])


@pytest.fixture
def surf_files(data_home, tmp_path):
    from skdomainclust.datasets import load_office_caltech_surf

    data = load_office_caltech_surf(data_home=data_home)
    names = list(data.domain_names)
    source = data.domain == names.index("amazon")
    target = data.domain == names.index("webcam")
    np.savez(tmp_path / "amazon.npz", X=data.X[source], y=data.y[source])
    np.savez(tmp_path / "webcam.npz", X=data.X[target], y=data.y[target])
    return tmp_path / "amazon.npz", tmp_path / "webcam.npz", data.y[target]


def test_clusters_a_saved_feature_file_end_to_end(surf_files, tmp_path):
    source, target, y_target = surf_files
    output = tmp_path / "labels.csv"
    stream = io.StringIO()
    args = build_parser().parse_args([
        "cluster", "--method", "source-only", "--source", str(source), "--target", str(target),
        "--output", str(output), "--param", "max_epochs=30", "--seed", "0"])
    metrics = run_cluster(args, stream=stream)

    labels = _read_labels(output)
    assert len(labels) == len(y_target)
    # The table printed is the one computed from the written labels; well above chance (10%).
    assert metrics["ACC %"] == pytest.approx(100 * np.mean(labels == y_target))
    assert metrics["ACC %"] > 25
    assert "ACC %" in stream.getvalue() and "BCubed F1" in stream.getvalue()


def test_csv_and_npy_inputs_and_the_module_entry_point(tmp_path):
    X, y, sample_domain = make_shifted_blobs(n_per_class=20, shift=0.3, seed=1)
    source, target = sample_domain >= 0, sample_domain < 0
    with open(tmp_path / "source.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{i}" for i in range(X.shape[1])] + ["label"])
        writer.writerows(np.c_[X[source], y[source]].tolist())
    np.save(tmp_path / "target.npy", X[target])
    read_X, read_y = read_features(str(tmp_path / "source.csv"))
    np.testing.assert_allclose(read_X, X[source])
    np.testing.assert_array_equal(read_y, y[source])

    output = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, "-m", "skdomainclust", "cluster", "--method", "source-only",
         "--source", str(tmp_path / "source.csv"), "--target", str(tmp_path / "target.npy"),
         "--output", str(output), "--param", "max_epochs=20"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    labels = _read_labels(output)
    assert len(labels) == target.sum()
    assert np.mean(labels == y[target]) > 0.8  # mild shift: the source classifier transfers
    assert "ACC" not in done.stdout  # no target labels, no metrics table


@pytest.mark.parametrize("extra, message", [
    (["--param", "no_such=1"], "has no parameter"),
    (["--param", "max_epochs"], "name=value"),
])
def test_bad_options_give_a_clear_error(tmp_path, capsys, extra, message):
    X, y, _ = make_shifted_blobs(n_per_class=5, seed=2)
    np.savez(tmp_path / "s.npz", X=X, y=y)
    code = main(["cluster", "--method", "source-only", "--source", str(tmp_path / "s.npz"),
                 "--target", str(tmp_path / "s.npz"), "--output", str(tmp_path / "o.csv"),
                 *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_unlabelled_source_and_mismatched_files_are_refused(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((10, 3)))
    np.save(tmp_path / "b.npy", np.zeros((10, 4)))
    base = ["cluster", "--method", "source-only", "--output", str(tmp_path / "o.csv")]
    assert main([*base, "--source", str(tmp_path / "a.npy"),
                 "--target", str(tmp_path / "b.npy")]) == 2
    assert "different numbers of features" in capsys.readouterr().err
    assert main([*base, "--source", str(tmp_path / "a.npy"),
                 "--target", str(tmp_path / "a.npy")]) == 2
    assert "needs labelled source rows" in capsys.readouterr().err
    assert main([*base, "--source", str(tmp_path / "missing.npz"),
                 "--target", str(tmp_path / "a.npy")]) == 2
    assert "No such feature file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unsupported"):
        read_features(str(tmp_path / "a.npy").replace(".npy", ".txt"))


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["cluster", "--help"])
    text = capsys.readouterr().out
    for option in ("--method", "--source", "--target", "--output", "--n-clusters", "--param",
                   "--x-key", "--y-key", "--label-column", "--no-standardize", "--seed",
                   "--device", "--verbose"):
        assert option in text


def _fast_params(estimator_class):
    """The shared suite's small settings for this estimator, as --param options."""
    import ast

    from ._cases import CASES

    case = next(c for c in CASES if type(c.estimator) is estimator_class)
    defaults = estimator_class().get_params(deep=False)
    options = []
    for name, value in case.estimator.get_params(deep=False).items():
        if name in ("random_state", "n_clusters") or value == defaults[name]:
            continue
        try:
            ast.literal_eval(repr(value))
        except (ValueError, SyntaxError):
            continue  # not a literal (e.g. a callable): keep the default
        options += ["--param", f"{name}={value!r}"]
    return options


@pytest.mark.parametrize("method", ["srdc", "ccn", "acids", "xdc", "ucdir"])
def test_every_method_clusters_feature_files(method, tmp_path):
    from skdomainclust._cli import METHODS, _estimator_class

    spec = METHODS[method]
    X, y, sample_domain = make_shifted_blobs(n_per_class=20, n_sources=spec.min_sources,
                                             shift=0.3, seed=5)
    sources = []
    for domain in range(spec.min_sources):
        rows = sample_domain == domain
        np.savez(tmp_path / f"s{domain}.npz", X=X[rows], y=y[rows])
        sources += ["--source", str(tmp_path / f"s{domain}.npz")]
    np.savez(tmp_path / "t.npz", X=X[sample_domain < 0], y=y[sample_domain < 0])
    stream = io.StringIO()
    estimator_class = _estimator_class(spec.estimator)
    # Only the methods with a number of clusters take --n-clusters (the others refuse it).
    k = ["--n-clusters", "3"] if "n_clusters" in estimator_class().get_params() else []
    args = build_parser().parse_args([
        "cluster", "--method", method, *sources, "--target", str(tmp_path / "t.npz"),
        "--output", str(tmp_path / "o.csv"), *k, *_fast_params(estimator_class)])
    metrics = run_cluster(args, stream=stream)
    labels = _read_labels(tmp_path / "o.csv")
    assert len(labels) == 60
    assert set(metrics) == {"ACC %", "NMI %", "pairwise F1", "BCubed F1"}


# -- user errors: one line on stderr and exit code 2, never a traceback -------------------------


def _run_cli(*arguments):
    result = subprocess.run([sys.executable, "-m", "skdomainclust", "cluster", *arguments],
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def blob_files(tmp_path):
    X, y, sample_domain = make_shifted_blobs(n_per_class=20, shift=0.3, seed=1)
    np.savez(tmp_path / "source.npz", X=X[sample_domain >= 0], y=y[sample_domain >= 0])
    np.savez(tmp_path / "target.npz", X=X[sample_domain < 0], y=y[sample_domain < 0])
    return tmp_path / "source.npz", tmp_path / "target.npz"


def _make_bad_file(tmp_path, good, kind):
    if kind == "truncated .npz":
        (tmp_path / "bad.npz").write_bytes(good.read_bytes()[:100])
    elif kind == "empty .npz":
        (tmp_path / "bad.npz").write_bytes(b"")
    elif kind == "empty .npy":
        (tmp_path / "bad.npy").write_bytes(b"")
        return tmp_path / "bad.npy"
    else:  # a folder where a file is expected
        (tmp_path / "bad.npz").mkdir()
    return tmp_path / "bad.npz"


@pytest.mark.parametrize("kind, role", [
    ("truncated .npz", "--source"), ("truncated .npz", "--target"),
    ("empty .npz", "--source"), ("empty .npy", "--target"), ("a folder", "--source"),
])
def test_bad_feature_files_give_one_line_and_exit_2(blob_files, tmp_path, kind, role):
    source, target = blob_files
    bad = _make_bad_file(tmp_path, source, kind)
    files = {"--source": source, "--target": target, role: bad}
    code, _, stderr = _run_cli("--method", "source-only", "--source", str(files["--source"]),
                               "--target", str(files["--target"]),
                               "--output", str(tmp_path / "out.csv"))
    assert code == 2, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    assert str(bad) in stderr, stderr


def test_divergence_is_one_line_and_exit_2(blob_files, tmp_path):
    source, target = blob_files
    code, _, stderr = _run_cli("--method", "source-only", "--source", str(source), "--target",
                               str(target), "--output", str(tmp_path / "out.csv"),
                               "--param", "optimizer='sgd'", "--param", "lr=1e4",
                               "--param", "max_epochs=20")
    assert code == 2 and "Traceback" not in stderr and "diverged" in stderr
    assert stderr.count("\n") == 1


@pytest.mark.parametrize("method", ["source-only", "ccn", "xdc"])
def test_n_clusters_is_refused_where_it_has_no_meaning(blob_files, tmp_path, method, capsys):
    source, target = blob_files
    code = main(["cluster", "--method", method, "--source", str(source), "--target",
                 str(target), "--output", str(tmp_path / "out.csv"), "--n-clusters", "5"])
    assert code == 2 and "--n-clusters does not apply" in capsys.readouterr().err


def test_an_existing_output_is_kept_unless_forced(blob_files, tmp_path, capsys):
    source, target = blob_files
    output = tmp_path / "labels.csv"
    output.write_text("precious\n")
    common = ["cluster", "--method", "source-only", "--source", str(source), "--target",
              str(target), "--output", str(output), "--param", "max_epochs=2"]
    assert main(common) == 2
    assert "--force" in capsys.readouterr().err and output.read_text() == "precious\n"
    assert main([*common, "--force"]) == 0
    assert output.read_text().startswith("row,label")


def test_a_missing_output_folder_is_reported_before_fitting(blob_files, tmp_path):
    source, target = blob_files
    args = build_parser().parse_args([
        "cluster", "--method", "source-only", "--source", str(source), "--target", str(target),
        "--output", str(tmp_path / "missing" / "labels.csv")])
    with pytest.raises(ValueError, match="does not exist"):
        run_cluster(args)  # raises at once: no estimator is built


def test_string_class_labels_work_with_every_labelled_method(tmp_path):
    X, y, sample_domain = make_shifted_blobs(n_per_class=20, shift=0.3, seed=1)
    names = np.array(["cat", "dog", "owl"])[y]
    source, target = sample_domain >= 0, sample_domain < 0
    np.savez(tmp_path / "source.npz", X=X[source], y=names[source])
    np.savez(tmp_path / "target.npz", X=X[target], y=names[target])
    for method in ("srdc", "source-only"):
        output = tmp_path / f"{method}.csv"
        args = build_parser().parse_args([
            "cluster", "--method", method, "--source", str(tmp_path / "source.npz"),
            "--target", str(tmp_path / "target.npz"), "--output", str(output),
            "--param", "max_epochs=3", "--param", "input_dropout=0.0"
            if method == "srdc" else "dropout=0.0"])
        metrics = run_cluster(args, stream=io.StringIO())
        with open(output, newline="") as handle:
            written = {label for _, label in list(csv.reader(handle))[1:]}
        assert written <= {"cat", "dog", "owl"}
        assert metrics["ACC %"] > 50


@pytest.mark.parametrize("labelled, how", [(True, "the number of source classes"),
                                           (False, "estimated from the target rows")])
def test_ucdir_without_n_clusters_uses_the_source_classes_or_an_estimate(tmp_path, labelled,
                                                                          how):
    from skdomainclust._cli import _estimator_class

    X, y, sample_domain = make_shifted_blobs(n_per_class=20, shift=0.3, seed=5)
    source, target = sample_domain >= 0, sample_domain < 0
    if labelled:
        np.savez(tmp_path / "s.npz", X=X[source], y=y[source])
    else:
        np.savez(tmp_path / "s.npz", X=X[source])
    np.savez(tmp_path / "t.npz", X=X[target], y=y[target])
    stream = io.StringIO()
    args = build_parser().parse_args([
        "cluster", "--method", "ucdir", "--source", str(tmp_path / "s.npz"), "--target",
        str(tmp_path / "t.npz"), "--output", str(tmp_path / "o.csv"),
        *_fast_params(_estimator_class("skdomainclust.UCDIRRetriever"))])
    run_cluster(args, stream=stream)
    assert f"ucdir: n_clusters=3, {how}" in stream.getvalue()


def test_standardisation_is_per_domain_so_a_target_offset_changes_nothing(tmp_path):
    X, y, sample_domain = make_shifted_blobs(n_per_class=20, shift=0.3, seed=1)
    source, target = sample_domain >= 0, sample_domain < 0
    np.savez(tmp_path / "s.npz", X=X[source], y=y[source])
    outputs = []
    for offset in (0.0, 50.0):
        np.savez(tmp_path / "t.npz", X=X[target] * 3.0 + offset)
        output = tmp_path / f"o{offset}.csv"
        args = build_parser().parse_args([
            "cluster", "--method", "source-only", "--source", str(tmp_path / "s.npz"),
            "--target", str(tmp_path / "t.npz"), "--output", str(output),
            "--param", "max_epochs=5", "--param", "hidden_dims=(16,)"])
        run_cluster(args, stream=io.StringIO())
        outputs.append(_read_labels(output))
    np.testing.assert_array_equal(outputs[0], outputs[1])
