"""The contract every public estimator owes its users, run over the registry in ``_cases``."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks
from skorch.callbacks import Callback

from skdomainclust import SourceOnlyClassifier
from skdomainclust._base import DeepDomainEstimator
from skdomainclust.exceptions import DivergenceError
from skdomainclust.metrics import get_scorer
from skdomainclust.srdc import SRDCAdapter
from skdomainclust.xdc import XDCClusterer

from ._cases import CASES, make_shifted_blobs

CASE_IDS = [case.id for case in CASES]


def _expected_failed_checks(estimator):
    for case in CASES:
        if type(case.estimator) is type(estimator):
            return case.expected_failed_checks
    return {}


@parametrize_with_checks([case.estimator for case in CASES],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request):
    return request.param


def _fit(estimator, X, y, sample_domain):
    return estimator.fit(X, y, sample_domain=sample_domain)


def _scorer_for(estimator):
    name = "target_accuracy" if getattr(estimator, "_estimator_type", None) == "classifier" \
        else "target_cluster_accuracy"
    return get_scorer(name)


def test_predict_returns_one_label_per_row(case):
    X, y, sd = case.data()
    est = _fit(clone(case.estimator), X, y, sd)
    assert est.predict(X).shape == (len(X),)
    assert est.predict(X[:7]).shape == (7,)


def test_clone_keeps_params_and_refits(case):
    est = clone(case.estimator)
    assert est.get_params() == case.estimator.get_params()
    X, y, sd = case.data()
    _fit(est, X, y, sd)
    # Fitting a clone leaves the prototype unfitted.
    assert not hasattr(case.estimator, "net_")


def test_pickle_round_trip_gives_same_predictions(case):
    X, y, sd = case.data()
    est = _fit(clone(case.estimator), X, y, sd)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))


def test_same_random_state_gives_identical_results(case):
    X, y, sd = case.data()
    first = _fit(clone(case.estimator), X, y, sd).predict(X)
    second = _fit(clone(case.estimator), X, y, sd).predict(X)
    np.testing.assert_array_equal(first, second)


def test_global_torch_rng_is_left_untouched(case):
    X, y, sd = case.data()
    before = torch.random.get_rng_state()
    _fit(clone(case.estimator), X, y, sd)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_inputs_are_not_modified(case):
    X, y, sd = case.data()
    X32 = X.astype(np.float32)  # float32 input is not copied by validation: the riskier case
    copies = X32.copy(), y.copy(), sd.copy()
    est = _fit(clone(case.estimator), X32, y, sd)
    est.predict(X32)
    np.testing.assert_array_equal(X32, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(sd, copies[2])


def test_target_labels_never_reach_training(case):
    """Scrambling (or masking) the labels of target rows must not change the fitted model."""
    X, y, sd = case.data()
    scrambled = y.copy()
    target = sd < 0
    scrambled[target] = np.random.default_rng(1).permutation(y[target])
    masked = y.copy()
    masked[target] = -1
    reference = _fit(clone(case.estimator), X, y, sd).predict(X)
    for labels in (scrambled, masked):
        np.testing.assert_array_equal(_fit(clone(case.estimator), X, labels, sd).predict(X),
                                      reference)


def test_domains_inferred_from_masked_labels(case):
    """Without sample_domain, rows with y == -1 are the target; the fit matches the explicit one."""
    X, y, sd = case.data()
    if case.n_sources > 1:
        pytest.skip("several source domains cannot be inferred from y")
    masked = np.where(sd < 0, -1, y)
    explicit = _fit(clone(case.estimator), X, masked, np.where(sd < 0, -1, 0)).predict(X)
    inferred = clone(case.estimator).fit(X, masked).predict(X)
    np.testing.assert_array_equal(inferred, explicit)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_input_is_rejected(case, bad):
    X, y, sd = case.data()
    X = X.copy()
    X[3, 1] = np.nan if bad == "nan" else np.inf
    with pytest.raises(ValueError, match="NaN|infinity"):
        _fit(clone(case.estimator), X, y, sd)


def test_wrong_ndim_is_rejected(case):
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="dim|2D|2-D"):
        _fit(clone(case.estimator), X[:, :, None], y, sd)


def test_length_mismatch_is_rejected(case):
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="sample_domain has"):
        _fit(clone(case.estimator), X, y, sd[:-1])
    with pytest.raises(ValueError, match="y has|inconsistent"):
        _fit(clone(case.estimator), X, y[:-1], sd)


def test_missing_target_rows_is_rejected(case):
    if not case.needs_target:
        pytest.skip("this estimator does not need target rows")
    X, y, sd = case.data()
    source = sd >= 0
    with pytest.raises(ValueError, match="[Nn]o target rows"):
        _fit(clone(case.estimator), X[source], y[source], sd[source])


def test_missing_source_labels_is_rejected(case):
    if not case.needs_source_labels:
        pytest.skip("this estimator does not need source labels")
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="[Nn]o labelled source rows"):
        _fit(clone(case.estimator), X, np.full_like(y, -1), sd)


def _small_grid(estimator):
    return {f"{type(estimator).__name__.lower()}__lr": [estimator.lr, estimator.lr / 2]}


def test_grid_search_in_pipeline_with_routed_sample_domain(case):
    X, y, sd = case.data()
    estimator = clone(case.estimator)
    cv = KFold(2, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(make_pipeline(StandardScaler(), estimator), _small_grid(estimator),
                              scoring=_scorer_for(estimator), cv=cv)
        search.fit(X, y, sample_domain=sd)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(X).shape == (len(X),)


def test_grid_search_in_pipeline_with_masked_labels(case):
    if case.n_sources > 1:
        pytest.skip("several source domains cannot be inferred from y")
    X, y, sd = case.data()
    masked = np.where(sd < 0, -1, y)
    estimator = clone(case.estimator)
    search = GridSearchCV(make_pipeline(StandardScaler(), estimator), _small_grid(estimator),
                          scoring=_scorer_for(estimator), cv=KFold(2, shuffle=True, random_state=0))
    search.fit(X, masked)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# -- the estimator core: parameters, transactional fit, divergence, state -----------------------


class _FailAt(Callback):
    """Raise ``error`` at the end of epoch ``epoch`` (1-based) of any net it is given to."""

    def __init__(self, error, epoch=1):
        self.error = error
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) >= self.epoch:
            raise self.error


@pytest.fixture
def fail_training(monkeypatch):
    """Make every net an estimator builds raise ``error`` in its ``epoch``-th epoch."""

    def install(error, epoch=1):
        original = DeepDomainEstimator._callbacks

        def callbacks(self, *args, **kwargs):
            return [*original(self, *args, **kwargs), ("fail", _FailAt(error, epoch))]

        monkeypatch.setattr(DeepDomainEstimator, "_callbacks", callbacks)

    return install


def test_every_parameter_is_validated(case):
    """sklearn's check: every constructor parameter has a constraint, and fit enforces it."""
    check_param_validation(case.id, clone(case.estimator))


@pytest.mark.parametrize("estimator, name", [
    (SourceOnlyClassifier(max_epochs=0), "max_epochs"),
    (XDCClusterer(initial_threshold=2.0), "initial_threshold"),
    (SRDCAdapter(batch_size=0), "batch_size"),
    (SourceOnlyClassifier(batch_size=0), "batch_size"),
], ids=["max_epochs=0", "initial_threshold=2.0", "SRDC-batch_size=0", "SourceOnly-batch_size=0"])
def test_bad_parameter_values_fail_before_training(estimator, name):
    X, y, sd = make_shifted_blobs()
    with pytest.raises(ValueError, match=f"'{name}' parameter of {type(estimator).__name__}"):
        estimator.fit(X, y, sample_domain=sd)
    assert not hasattr(estimator, "n_features_in_")


def test_batch_size_zero_is_refused_by_every_estimator(case):
    if "batch_size" not in case.estimator.get_params():
        pytest.skip("no batch_size parameter")
    X, y, sd = case.data()
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        _fit(clone(case.estimator).set_params(batch_size=0), X, y, sd)


def _fitted_attributes(estimator):
    return {name for name in vars(estimator) if name.endswith("_")}


def test_keyboard_interrupt_leaves_fit_and_the_estimator_unfitted(case, fail_training):
    fail_training(KeyboardInterrupt(), epoch=1)
    X, y, sd = case.data()
    estimator = clone(case.estimator)
    with pytest.raises(KeyboardInterrupt):
        _fit(estimator, X, y, sd)
    assert _fitted_attributes(estimator) == set()
    with pytest.raises(NotFittedError):
        estimator.predict(X)


def test_failed_fit_leaves_the_estimator_as_it_was(case, fail_training):
    fail_training(RuntimeError("boom"), epoch=2)
    X, y, sd = case.data()
    estimator = clone(case.estimator)
    before = dict(vars(estimator))
    with pytest.raises(RuntimeError, match="boom"):
        _fit(estimator, X, y, sd)
    assert vars(estimator).keys() == before.keys()
    assert all(vars(estimator)[name] is value for name, value in before.items())
    with pytest.raises(NotFittedError):
        estimator.predict(X)


def test_failed_refit_keeps_the_previous_model_whole(case, fail_training):
    X, y, sd = case.data()
    estimator = _fit(clone(case.estimator), X, y, sd)
    expected = estimator.predict(X)
    state = dict(vars(estimator))
    fail_training(RuntimeError("boom"), epoch=2)
    # Another data set: fewer rows and fewer features.
    X_b, y_b, sd_b = case.data(seed=1)
    keep = np.arange(len(X_b)) % 5 != 0
    with pytest.raises(RuntimeError, match="boom"):
        _fit(estimator, X_b[keep, :5], y_b[keep], sd_b[keep])
    assert vars(estimator).keys() == state.keys()
    assert all(vars(estimator)[name] is value for name, value in state.items())
    np.testing.assert_array_equal(estimator.predict(X), expected)


def test_sgd_with_a_huge_learning_rate_raises_divergence(case):
    X, y, sd = case.data()
    estimator = clone(case.estimator).set_params(optimizer="sgd", lr=1e4)
    with pytest.raises(DivergenceError, match="epoch"):
        _fit(estimator, X, y, sd)
    assert _fitted_attributes(estimator) == set()


def _reachable_tensors(root):
    """Every torch tensor reachable from ``root`` that is not a module's parameter or buffer.

    skorch saves the optimizer's state itself (mapping devices on load), so the tensors inside
    an optimizer are not counted; module attributes are, since a plain tensor attribute is in
    no state dict.
    """
    seen, stray = set(), []
    registered = set()
    stack = [("estimator", root)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, str, bytes, int, float, np.ndarray)):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.optim.Optimizer):
            continue
        if isinstance(obj, torch.nn.Module):
            registered.update(id(t) for t in obj.parameters(recurse=False))
            registered.update(id(t) for t in obj.buffers(recurse=False))
        if isinstance(obj, torch.Tensor):
            stray.append((path, obj))
            continue
        if isinstance(obj, dict):
            stack.extend((f"{path}[{key!r}]", value) for key, value in obj.items())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((f"{path}[{i}]", value) for i, value in enumerate(obj))
        elif hasattr(obj, "__dict__") and not callable(getattr(obj, "__func__", None)):
            stack.extend((f"{path}.{key}", value) for key, value in vars(obj).items())
    return [path for path, tensor in stray if id(tensor) not in registered]


def test_fitted_state_holds_no_tensor_outside_modules(case):
    X, y, sd = case.data()
    estimator = _fit(clone(case.estimator), X, y, sd)
    assert _reachable_tensors(estimator) == []


def test_dataframes_and_read_only_arrays_fit_without_spurious_warnings(case):
    # A DataFrame's names must not be "missing" when fit labels its own rows, and a read-only
    # float32 array (a memmap) must not make torch warn about writes that never happen.
    pd = pytest.importorskip("pandas")
    X, y, sd = case.data()
    frame = pd.DataFrame(X, columns=[f"feature{i}" for i in range(X.shape[1])])
    read_only = np.asarray(X, dtype=np.float32).copy()
    read_only.setflags(write=False)
    for data in (frame, read_only):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            est = _fit(clone(case.estimator), data, y, sd)
            est.predict(data)
