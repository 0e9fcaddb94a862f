"""``python -m skdomainclust cluster``: cluster a target feature file with any method.

Reads precomputed features (``.npy``, ``.npz`` or ``.csv``) of one or more source domains and
of the target, fits the chosen estimator under the data contract (sources ``0, 1, ...``,
target ``-1``, target labels never used for training), writes the target labels to a CSV and,
when the target file carries labels, prints the metrics table.
"""

import ast
import csv
import importlib
import os
import sys
import zipfile
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CliMethod:
    """A method the CLI can run: where its estimator lives and what its sources must hold."""

    estimator: str
    description: str
    needs_source_labels: bool
    labels_are_classes: bool
    min_sources: int = 1
    needs_n_clusters: bool = False


METHODS = {
    "source-only": CliMethod("skdomainclust.SourceOnlyClassifier",
                             "MLP on the labelled source, no adaptation (baseline)", True, True),
    "srdc": CliMethod("skdomainclust.SRDCAdapter",
                      "SRDC: structurally regularised deep clustering", True, True),
    "ccn": CliMethod("skdomainclust.CCNAdapter",
                     "CCN+: source cross-entropy + learnable clustering objective on the "
                     "target", True, True),
    "acids": CliMethod("skdomainclust.ACIDSClusterer",
                       "ACIDS: clustering from several unlabelled sources, then source-free "
                       "adaptation (give --source twice or more)", False, False, min_sources=2,
                       needs_n_clusters=True),
    "xdc": CliMethod("skdomainclust.XDCClusterer",
                     "XDC: adversarial linkage-GCN clustering, K unknown", True, False),
    "ucdir": CliMethod("skdomainclust.UCDIRRetriever",
                       "UCDIR: cross-domain contrastive clustering (one unlabelled source)",
                       False, False, needs_n_clusters=True),
}


def _estimator_class(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def read_features(path, *, x_key="X", y_key="y", label_column=None):
    """Read ``(X, y)`` from a feature file; ``y`` is None when the file has no labels.

    - ``.npy``: a 2-D array of features (no labels).
    - ``.npz``: arrays ``x_key`` (features) and, when present, ``y_key`` (labels).
    - ``.csv``: numeric columns, with or without a header row; ``label_column`` (a header
      name or a 0-based index; by default a column headed ``label`` or ``y``) holds labels.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".npy", ".npz", ".csv"):
        raise ValueError(f"Unsupported feature file {path!r}: use .npy, .npz or .csv.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such feature file: {path!r}.")
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is not a file.")
    try:
        if extension == ".npy":
            X, y = np.load(path, allow_pickle=False), None
        elif extension == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if x_key not in archive:
                    raise ValueError(f"{path!r} has no array {x_key!r} (it has "
                                     f"{sorted(archive.files)}); choose one with --x-key.")
                X = archive[x_key]
                y = archive[y_key] if y_key in archive else None
        else:
            X, y = _read_csv(path, label_column)
    except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ValueError(f"{path!r} is not a readable {extension} file "
                         f"({type(error).__name__}: {error}).") from error
    except ValueError as error:
        if str(error).startswith(repr(path)):
            raise
        raise ValueError(f"{path!r} is not a readable {extension} file ({error}).") from error
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{path!r}: features must be a 2-D table (rows x features), got shape "
                         f"{X.shape}.")
    if y is not None and len(y) != len(X):
        raise ValueError(f"{path!r}: {len(y)} labels for {len(X)} rows.")
    return X, y


def _read_csv(path, label_column):
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if not rows:
        raise ValueError(f"{path!r} is empty.")
    try:
        [float(value) for value in rows[0]]
        header = None
    except ValueError:
        header, rows = rows[0], rows[1:]
    if label_column is None and header is not None:
        label_column = next((name for name in ("label", "y") if name in header), None)
    index = None
    if label_column is not None:
        if header is not None and label_column in header:
            index = header.index(label_column)
        else:
            try:
                index = int(label_column)
            except ValueError:
                raise ValueError(f"{path!r} has no column {label_column!r}.") from None
    table = np.array(rows, dtype=object)
    if index is None:
        return table.astype(np.float64), None
    labels = table[:, index].astype(str)
    try:
        numbers = labels.astype(np.float64)
    except ValueError:
        numbers = None  # class names
    if numbers is not None and np.all(numbers == np.round(numbers)):
        labels = numbers.astype(np.int64)  # "3" and "3.0" both mean class 3
    return np.delete(table, index, axis=1).astype(np.float64), labels


def _parse_params(pairs):
    params = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--param takes name=value, got {pair!r}.")
        try:
            params[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            params[name] = text  # a bare word, e.g. device=cpu
    return params


def _default_n_clusters(sources, X_target, seed):
    """K for a clusterer that requires it: the source classes when the files name them."""
    from .model_selection import estimate_n_clusters

    labels = [y for _, y in sources]
    if all(y is not None for y in labels):
        return len(np.unique(np.concatenate(labels))), "the number of source classes"
    return (estimate_n_clusters(X_target, random_state=seed),
            "estimated from the target rows (silhouette of k-means, a rough guide)")


def build_estimator(method, *, n_clusters, params, seed, device, verbose, user_n_clusters=None):
    """The estimator of ``method`` with the CLI's settings applied where it has them.

    ``user_n_clusters`` is what the user asked for with ``--n-clusters``: a method without a
    number of clusters to set refuses it rather than ignoring it.
    """
    estimator = _estimator_class(METHODS[method].estimator)()
    available = estimator.get_params()
    if user_n_clusters is not None and "n_clusters" not in available:
        raise ValueError(
            f"--n-clusters does not apply to {method}: "
            + ("it predicts the source classes." if METHODS[method].labels_are_classes else
               "it finds the number of clusters itself.")
        )
    settings = {"random_state": seed, "device": device, "verbose": verbose}
    if n_clusters is not None:
        settings["n_clusters"] = n_clusters
    settings = {name: value for name, value in settings.items() if name in available}
    unknown = sorted(set(params) - set(available))
    if unknown:
        raise ValueError(f"{type(estimator).__name__} has no parameter(s) {unknown}; it has "
                         f"{sorted(available)}.")
    return estimator.set_params(**settings, **params)


def run_cluster(args, stream=None):
    """Fit ``args.method`` on the files of ``args``; write the labels; return the metrics."""
    from .metrics import bcubed_f1, cluster_accuracy, nmi, pairwise_f1
    from .preprocessing import DomainStandardScaler

    stream = stream or sys.stdout
    method = METHODS[args.method]
    _check_output(args.output, force=getattr(args, "force", False))
    if len(args.source) < method.min_sources:
        raise ValueError(f"{args.method} needs at least {method.min_sources} --source files, "
                         f"got {len(args.source)}.")
    read = {"x_key": args.x_key, "y_key": args.y_key, "label_column": args.label_column}
    sources = [read_features(path, **read) for path in args.source]
    X_target, y_target = read_features(args.target, **read)
    widths = {X.shape[1] for X, _ in sources} | {X_target.shape[1]}
    if len(widths) > 1:
        raise ValueError(f"Source and target files have different numbers of features: "
                         f"{sorted(widths)}.")
    if method.needs_source_labels and any(y is None for _, y in sources):
        raise ValueError(f"{args.method} needs labelled source rows: give .npz files with "
                         f"{args.y_key!r} or .csv files with a label column.")

    blocks = [X for X, _ in sources] + [X_target]
    domains = [np.full(len(X), d) for d, (X, _) in enumerate(sources)]
    domains.append(np.full(len(X_target), -1))
    # Source labels of any type (class names included) become codes 0..K-1, so that the -1
    # of the unlabelled rows never collides with a class; predictions are mapped back.
    classes = None
    if method.needs_source_labels:
        classes, codes = np.unique(np.concatenate([y for _, y in sources]), return_inverse=True)
        labels = np.split(codes.astype(np.int64), np.cumsum([len(X) for X, _ in sources])[:-1])
    else:
        labels = [np.full(len(X), -1) for X, _ in sources]
    X = np.concatenate(blocks).astype(np.float32)
    sample_domain = np.concatenate(domains)
    y = np.concatenate([*labels, np.full(len(X_target), -1)])
    if args.standardize:
        # Per domain, as the benchmarks do: a scaler over the stacked rows keeps the shift.
        X = DomainStandardScaler().fit_transform(X, sample_domain=sample_domain)
        X = X.astype(np.float32)

    n_clusters = args.n_clusters
    if n_clusters is None and method.needs_source_labels:
        n_clusters = len(np.unique(y[y != -1]))
    elif n_clusters is None and method.needs_n_clusters:
        n_clusters, how = _default_n_clusters(sources, X[sample_domain < 0], args.seed)
        print(f"{args.method}: n_clusters={n_clusters}, {how} (--n-clusters sets it)",
              file=stream)
    estimator = build_estimator(args.method, n_clusters=n_clusters,
                                params=_parse_params(args.param), seed=args.seed,
                                device=args.device, verbose=args.verbose,
                                user_n_clusters=args.n_clusters)
    estimator.fit(X, y, sample_domain=sample_domain)
    target = sample_domain < 0
    predicted = np.asarray(estimator.predict(X[target]))
    if method.labels_are_classes:
        predicted = classes[predicted]

    with open(args.output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "label"])
        writer.writerows(zip(range(len(predicted)), predicted.tolist()))
    print(f"{args.method}: {len(predicted)} target rows, "
          f"{len(np.unique(predicted))} clusters -> {args.output}", file=stream)

    if y_target is None:
        return None
    accuracy = (float(np.mean(predicted == y_target)) if method.labels_are_classes
                else cluster_accuracy(y_target, predicted))
    metrics = {"ACC %": 100 * accuracy, "NMI %": 100 * nmi(y_target, predicted),
               "pairwise F1": pairwise_f1(y_target, predicted),
               "BCubed F1": bcubed_f1(y_target, predicted)}
    print("  ".join(f"{name:>11}" for name in metrics), file=stream)
    print("  ".join(f"{value:11.3f}" for value in metrics.values()), file=stream)
    return metrics


def _check_output(path, *, force):
    """Refuse, before any fitting, an output that would overwrite a file or cannot be made."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"The folder of --output {path!r} does not exist: create it first.")
    if os.path.isdir(path):
        raise ValueError(f"--output {path!r} is a folder: give a file name.")
    if os.path.exists(path) and not force:
        raise ValueError(f"--output {path!r} exists: pass --force to overwrite it.")


def add_cluster_command(commands):
    """Register the ``cluster`` sub-command on an argparse sub-parsers object."""
    listing = "; ".join(f"{name}: {m.description}" for name, m in METHODS.items())
    parser = commands.add_parser(
        "cluster",
        help="cluster a target feature file with one of the methods",
        description="Fit a method on source and target feature files and write the target "
        "labels. Sources get domain ids 0, 1, ... and the target -1; target labels, when the "
        "target file has them, are only used to print ACC, NMI, pairwise and BCubed F1. "
        f"Methods: {listing}.",
    )
    parser.add_argument("--method", required=True, choices=sorted(METHODS),
                        help="the estimator to fit (see the list above)")
    parser.add_argument("--source", required=True, action="append", metavar="FILE",
                        help="source features (.npy, .npz or .csv); repeat for several source "
                        "domains. Methods that learn from source labels read them from the "
                        "file (--y-key / --label-column)")
    parser.add_argument("--target", required=True, metavar="FILE",
                        help="target features (.npy, .npz or .csv); labels in it are used for "
                        "the metrics table only")
    parser.add_argument("--output", required=True, metavar="CSV",
                        help="where to write the target labels (columns: row, label)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite --output if it exists (default: refuse)")
    parser.add_argument("--n-clusters", type=int, default=None,
                        help="number of clusters of acids and ucdir (default: the number "
                        "of source classes when the source files hold labels, else an "
                        "estimate from the target rows, printed) and of srdc (the number of "
                        "source classes, its default); "
                        "source-only, ccn and xdc refuse it: they predict the source classes "
                        "or find the number of clusters themselves")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="any other estimator parameter, value as a Python literal, e.g. "
                        "--param max_epochs=50 --param 'hidden_dims=(256,)'; repeatable")
    parser.add_argument("--x-key", default="X", help="features array in .npz files "
                        "(default: X)")
    parser.add_argument("--y-key", default="y", help="labels array in .npz files (default: y)")
    parser.add_argument("--label-column", default=None,
                        help="labels column of .csv files, a header name or a 0-based index "
                        "(default: a column headed 'label' or 'y', if any)")
    parser.add_argument("--no-standardize", dest="standardize", action="store_false",
                        help="feed the features as they are (default: z-score each "
                        "feature within each file's rows, per domain, as the benchmarks do)")
    parser.add_argument("--seed", type=int, default=0, help="random_state (default: 0)")
    parser.add_argument("--device", default="auto",
                        help="torch device: auto (CUDA when present), cpu, cuda, cuda:1, ...")
    parser.add_argument("--verbose", type=int, default=0,
                        help="1 shows a progress bar while training (default: 0)")
    parser.set_defaults(func=_cluster)
    return parser


def _cluster(args):
    from .exceptions import DivergenceError

    try:
        run_cluster(args)
    except DivergenceError as error:
        print(f"error: training diverged: {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as error:
        # A user error (a bad file, parameter or option) is one line, never a traceback.
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0
