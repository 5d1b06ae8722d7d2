r"""Representation probes: external classifiers fitted on frozen codes.

The paper's evaluation protocol: freeze the trained network, encode the training and test
splits (one Bernoulli **sample** per row for a stochastic binary encoder), fit external
scikit-learn classifiers on the training codes to predict the target ``y`` and, separately,
the sensitive attribute ``s``, and report their test AUC and balanced accuracy. A good
invariant representation keeps the ``y`` AUC high while every probe's ``s`` AUC stays near
0.5 (chance): ``probe/best_s_auc`` is the invariance that an adversary of those classes
could break.

Three layers, from pure to Lightning:

* :func:`probe_representation`: arrays in, a flat ``dict[str, float]`` out;
* :func:`encode_dataset`: a model (or encoder) and a :class:`~fairlit.data.TensorSplit`
  in, the code ``[N, m]`` out, with the stochastic layer's inference mode set temporarily;
* :class:`fairlit.callbacks.RepresentationProbe`: a Lightning callback that runs both at the
  end of fit and of test and logs the results to every attached logger.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

from fairlit.data.loading import TensorSplit
from fairlit.nn.layers import Inference, _check_choice

__all__ = [
    "default_probe_classifiers",
    "encode_dataset",
    "probe_representation",
]

#: AUC and balanced accuracy reported when a split leaves nothing to rank or to recall.
CHANCE_AUC = 0.5


def default_probe_classifiers(seed: int = 0) -> dict[str, BaseEstimator]:
    """The default probes: logistic regression, random forest, gradient boosting, seeded.

    Args:
        seed: ``random_state`` of every probe.

    Returns:
        ``{"logreg": LogisticRegression(max_iter=1000), "forest":
        RandomForestClassifier(n_estimators=100, min_samples_leaf=5), "boosting":
        HistGradientBoostingClassifier()}``, all with ``random_state=seed``.

    Example:
        >>> sorted(default_probe_classifiers(seed=3))
        ['boosting', 'forest', 'logreg']
    """
    return {
        "logreg": LogisticRegression(max_iter=1000, random_state=seed),
        "forest": RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=seed),
        "boosting": HistGradientBoostingClassifier(random_state=seed),
    }


def _as_numpy(values: Any, name: str, ndim: int) -> np.ndarray:
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if ndim == 2 and array.ndim == 1:
        array = array[:, None]
    if array.ndim != ndim:
        raise ValueError(f"`{name}` must be {ndim}-dimensional, got shape {array.shape}.")
    return array


def _scores(estimator: BaseEstimator, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Scores ``[N, K]``, one column per class of ``classes`` (0 for classes not seen in fit)."""
    fitted = list(estimator.classes_)
    if hasattr(estimator, "predict_proba"):
        raw = np.asarray(estimator.predict_proba(x), dtype=np.float64)
    else:
        raw = np.asarray(estimator.decision_function(x), dtype=np.float64)
        if raw.ndim == 1:  # binary decision function: score of classes_[1]
            raw = np.stack([-raw, raw], axis=1)
    scores = np.zeros((len(x), len(classes)), dtype=np.float64)
    for k, label in enumerate(classes):
        if label in fitted:
            scores[:, k] = raw[:, fitted.index(label)]
    return scores


def _auc(target: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> float:
    """Binary AUC, or macro one-vs-rest AUC over the classes both present and absent in test."""
    if len(classes) == 2:
        positive = target == classes[1]
        if positive.all() or not positive.any():
            return CHANCE_AUC
        return float(roc_auc_score(positive, scores[:, 1]))
    # Macro one-vs-rest: the mean of the per-class binary AUCs, as
    # ``roc_auc_score(..., multi_class="ovr", average="macro")``; a class missing from the test
    # labels has no AUC and is left out of the mean instead of raising.
    per_class = []
    for k, label in enumerate(classes):
        positive = target == label
        if positive.any() and not positive.all():
            per_class.append(roc_auc_score(positive, scores[:, k]))
    return float(np.mean(per_class)) if per_class else CHANCE_AUC


def _balanced_accuracy(target: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in ``target`` (sklearn's definition, no warnings)."""
    recalls = [np.mean(predicted[target == label] == label) for label in np.unique(target)]
    return float(np.mean(recalls))


def _probe_one(
    estimator: BaseEstimator,
    train_x: np.ndarray,
    train_label: np.ndarray,
    test_x: np.ndarray,
    test_label: np.ndarray,
) -> tuple[float, float]:
    """Fit one probe on one label; return its test ``(auc, balanced_accuracy)``."""
    classes = np.unique(np.concatenate([train_label, test_label]))
    train_classes = np.unique(train_label)
    if len(train_classes) < 2:
        # Nothing to learn: the probe predicts the only training label with a constant score.
        predicted = np.full(len(test_label), train_classes[0])
        return CHANCE_AUC, _balanced_accuracy(test_label, predicted)
    estimator = clone(estimator).fit(train_x, train_label)
    predicted = np.asarray(estimator.predict(test_x))
    auc = _auc(test_label, _scores(estimator, test_x, classes), classes)
    return auc, _balanced_accuracy(test_label, predicted)


def _seeded(estimator: BaseEstimator, seed: int) -> BaseEstimator:
    """A clone with ``random_state=seed`` if it has that parameter and it is unset."""
    estimator = clone(estimator)
    if "random_state" in estimator.get_params(deep=False) and estimator.random_state is None:
        estimator.set_params(random_state=seed)
    return estimator


def probe_representation(
    train_codes: Tensor | np.ndarray,
    train_y: Tensor | np.ndarray,
    train_s: Tensor | np.ndarray,
    test_codes: Tensor | np.ndarray,
    test_y: Tensor | np.ndarray,
    test_s: Tensor | np.ndarray,
    classifiers: Mapping[str, BaseEstimator] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    r"""Fit external classifiers on frozen codes to predict ``y`` and ``s``; score them on test.

    Each classifier is cloned twice and fitted on ``train_codes``: once to predict ``y``, once
    to predict ``s``. On the test split it is scored by

    * AUC: ROC AUC of the predicted probability of the positive (larger) label; with more than
      two labels, the macro one-vs-rest AUC (``roc_auc_score(..., multi_class="ovr")``, the
      mean of the per-label binary AUCs);
    * balanced accuracy: the mean over the labels present in the test split of the recall of
      the hard predictions.

    Degenerate splits never raise nor give NaN: if the training labels hold a single class, the
    probe predicts that class with a constant score (AUC 0.5); if the test labels hold a single
    class, the AUC is 0.5 (undefined, reported as chance) and the balanced accuracy is the recall
    of that class. With more than two labels, a label missing from the test split is left out of
    the one-vs-rest mean.

    .. math::

        \text{probe/best\_s\_auc} = \max_c \mathrm{AUC}_c(s), \qquad
        \text{probe/best\_y\_auc} = \max_c \mathrm{AUC}_c(y),

    the first being the invariance that an adversary of the probes' classes could break
    (0.5 is perfect invariance).

    Args:
        train_codes: ``[N, m]`` training representations (a 1-D array is one feature).
        train_y: ``[N]`` training target.
        train_s: ``[N]`` training group index.
        test_codes: ``[M, m]`` test representations.
        test_y: ``[M]`` test target.
        test_s: ``[M]`` test group index.
        classifiers: name -> unfitted scikit-learn classifier (with ``predict_proba`` or
            ``decision_function``); ``None`` uses :func:`default_probe_classifiers`. A
            classifier whose ``random_state`` is ``None`` is given ``seed``. Never modified.
        seed: Seed of the default probes (and of unseeded given ones).

    Returns:
        ``probe/<name>/y_auc``, ``probe/<name>/y_balanced_accuracy``, ``probe/<name>/s_auc``,
        ``probe/<name>/s_balanced_accuracy`` for each classifier, then ``probe/best_s_auc`` and
        ``probe/best_y_auc``; plain Python floats.

    Raises:
        ValueError: on mismatched lengths, an empty split, or no classifiers.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> codes = rng.integers(0, 2, size=(200, 3)).astype(float)
        >>> y, s = codes[:, 0].astype(int), rng.integers(0, 2, size=200)
        >>> out = probe_representation(codes[:100], y[:100], s[:100], codes[100:], y[100:],
        ...                            s[100:], classifiers={"logreg": LogisticRegression()})
        >>> out["probe/logreg/y_auc"], out["probe/best_y_auc"]
        (1.0, 1.0)
    """
    train_x = _as_numpy(train_codes, "train_codes", 2)
    test_x = _as_numpy(test_codes, "test_codes", 2)
    labels = {
        name: _as_numpy(values, name, 1)
        for name, values in (
            ("train_y", train_y),
            ("train_s", train_s),
            ("test_y", test_y),
            ("test_s", test_s),
        )
    }
    for split, x in (("train", train_x), ("test", test_x)):
        lengths = {len(x), len(labels[f"{split}_y"]), len(labels[f"{split}_s"])}
        if len(lengths) != 1:
            raise ValueError(
                f"{split}_codes, {split}_y and {split}_s must have the same length, got "
                f"{len(x)}, {len(labels[f'{split}_y'])} and {len(labels[f'{split}_s'])}."
            )
        if len(x) == 0:
            raise ValueError(f"the {split} split is empty; nothing to probe.")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train and test codes differ in width: {train_x.shape[1]} vs {test_x.shape[1]}."
        )
    if classifiers is None:
        classifiers = default_probe_classifiers(seed)
    if not classifiers:
        raise ValueError("`classifiers` is empty; give at least one probe or None for defaults.")

    results: dict[str, float] = {}
    best = {"y": -np.inf, "s": -np.inf}
    for name, estimator in classifiers.items():
        for target in ("y", "s"):
            auc, balanced = _probe_one(
                _seeded(estimator, seed),
                train_x,
                labels[f"train_{target}"],
                test_x,
                labels[f"test_{target}"],
            )
            results[f"probe/{name}/{target}_auc"] = auc
            results[f"probe/{name}/{target}_balanced_accuracy"] = balanced
            best[target] = max(best[target], auc)
    results["probe/best_s_auc"] = float(best["s"])
    results["probe/best_y_auc"] = float(best["y"])
    return results


@contextlib.contextmanager
def _inference_mode(encoder: nn.Module, inference: Inference | None) -> Iterator[None]:
    """Temporarily set ``encoder.inference`` (a :class:`~fairlit.nn.StochasticEncoder`'s)."""
    if inference is None or not hasattr(encoder, "inference"):
        yield
        return
    stochastic: Any = encoder  # any encoder with an ``inference`` attribute (duck-typed)
    previous = stochastic.inference
    stochastic.inference = inference
    try:
        yield
    finally:
        stochastic.inference = previous


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """Temporarily put every submodule in eval mode, restoring each one's own flag."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


@contextlib.contextmanager
def _seeded_rng(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG inside the block and restore the caller's state afterwards."""
    if seed is None:
        yield
        return
    devices: list[int] = []
    if device.type == "cuda":
        devices = list(range(torch.cuda.device_count()))
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _encoder_of(model: nn.Module) -> nn.Module:
    encoder = getattr(model, "encoder", model)
    if not isinstance(encoder, nn.Module):
        raise TypeError(
            f"expected a model with an `encoder` nn.Module, got {type(model).__name__}."
        )
    return encoder


def encode_dataset(
    model: nn.Module,
    dataset: TensorSplit | Tensor,
    inference: Inference = "sample",
    batch_size: int = 4096,
    seed: int | None = None,
) -> Tensor:
    """Encode a split with a frozen encoder; return the code ``[N, m]`` on the CPU.

    Runs ``model.encoder`` (or ``model`` itself when it has no ``encoder`` attribute) in eval
    mode under :func:`torch.no_grad`, in batches on the encoder's device. For an encoder with a
    stochastic binary layer (a :class:`~fairlit.nn.StochasticEncoder`, or any encoder with a
    settable ``inference`` attribute) the encoder's inference mode is set to ``inference`` for
    the call: ``"sample"`` (one Bernoulli
    sample per row, the paper's evaluation), ``"threshold"`` or ``"probability"``. Encoders
    without one (e.g. :class:`~fairlit.nn.FullPrecisionEncoder`) give their code as is. The
    training flags and the inference mode are restored afterwards, even on error.

    Args:
        model: A :class:`~fairlit.models.FairRepresentationModel` or any module with an
            ``encoder``, or an encoder.
        dataset: A :class:`~fairlit.data.TensorSplit` (its ``x`` is encoded) or a feature
            tensor ``[N, F]``.
        inference: Inference mode of the stochastic layer during the call.
        batch_size: Rows per forward pass.
        seed: If given, sampling uses ``torch.manual_seed(seed)`` inside
            :func:`torch.random.fork_rng`, so the result is reproducible and the global RNG
            state is left untouched; ``None`` draws from the global RNG.

    Returns:
        float32 code ``[N, m]`` on the CPU.

    Raises:
        ValueError: if ``batch_size`` is not a positive int.
        TypeError: if ``dataset`` is neither a :class:`~fairlit.data.TensorSplit` nor a tensor.

    Example:
        >>> from fairlit.nn import HybridBinaryEncoder
        >>> enc = HybridBinaryEncoder(4, out_features=3)
        >>> ds = TensorSplit(torch.randn(10, 4), torch.zeros(10), torch.zeros(10))
        >>> a = encode_dataset(enc, ds, seed=0)
        >>> a.shape, bool(a.eq(encode_dataset(enc, ds, seed=0)).all()), enc.inference
        (torch.Size([10, 3]), True, 'sample')
    """
    _check_choice(inference, Inference, "inference")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
    encoder = _encoder_of(model)
    x = dataset.x if isinstance(dataset, TensorSplit) else dataset
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a TensorSplit or a Tensor, got {type(dataset).__name__}.")
    parameter = next(encoder.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else None
    chunks = []
    with (
        _eval_mode(encoder),
        _inference_mode(encoder, inference),
        _seeded_rng(seed, device),
        torch.no_grad(),
    ):
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size].to(device=device, dtype=dtype or x.dtype)
            chunks.append(encoder(batch).code.detach().to("cpu", torch.float32))
    if not chunks:
        width = int(getattr(encoder, "out_features", 0))
        return torch.zeros(0, width)
    return torch.cat(chunks)
