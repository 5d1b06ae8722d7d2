r"""Search spaces for ``fairlit sweep --search``: a small YAML file, any config key.

Each top-level key is a dotted config key as ``fairlit fit --print_config``
shows it; its value says how the key is drawn:

.. code-block:: yaml

    model.init_args.gamma: {low: 0.0, high: 1.0}
    model.init_args.optimizer.init_args.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    model.init_args.encoder.init_args.hidden_features: {choices: [[64], [128], [128, 64]]}
    data.init_args.batch_size: {choices: [64, 128, 256]}

* ``{low, high}`` with optional ``log`` and ``step``: a number drawn between the two
  (Optuna's ``suggest_int`` when both bounds are integers, else ``suggest_float``);
* ``{choices: [...]}``: one of the listed values, which may be lists or mappings.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fairlit.sweep.trials import SWEEP_KEYS_HINT, SweepUsageError

__all__ = ["load_search_space", "suggest"]

_NUMBER_KEYS = {"low", "high", "log", "step"}


def _check_spec(path: str, key: str, spec: Any) -> dict[str, Any]:
    where = f"{path}: {key}"
    if not isinstance(spec, Mapping):
        raise SweepUsageError(
            f"{where}: expected {{low: .., high: ..}} or {{choices: [..]}}, got {spec!r}"
        )
    keys = set(spec)
    if "choices" in keys:
        if keys != {"choices"}:
            raise SweepUsageError(
                f"{where}: 'choices' stands alone, got also {sorted(keys - {'choices'})}"
            )
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise SweepUsageError(f"{where}: 'choices' must be a non-empty list")
        return {"choices": list(spec["choices"])}
    unknown = keys - _NUMBER_KEYS
    if unknown:
        near = difflib.get_close_matches(sorted(unknown)[0], [*_NUMBER_KEYS, "choices"], n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise SweepUsageError(
            f"{where}: unknown field(s) {sorted(unknown)}; expected low, high, log, step or choices{hint}"
        )
    if not {"low", "high"} <= keys:
        raise SweepUsageError(f"{where}: needs both 'low' and 'high' (or 'choices')")
    low, high = spec["low"], spec["high"]
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SweepUsageError(f"{where}: '{name}' must be a number, got {value!r}")
    if not low < high:
        raise SweepUsageError(f"{where}: 'low' ({low}) must be below 'high' ({high})")
    if spec.get("log") and low <= 0:
        raise SweepUsageError(f"{where}: a log scale needs 'low' > 0, got {low}")
    return {k: spec[k] for k in ("low", "high", "log", "step") if k in spec}


def load_search_space(
    path: str | Path, config_keys: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    r"""Read and check a search-space YAML file.

    Args:
        path: The YAML file.
        config_keys: The resolved configuration's keys; each searched key must be one
            of them (a close match is suggested otherwise).

    Returns:
        Config key to its checked spec.

    Raises:
        SweepUsageError: for a missing or empty file, a malformed spec or an unknown key
            (one line naming the file and the key).

    Example:
        >>> import tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = os.path.join(d, "space.yaml")
        ...     _ = open(f, "w").write("model.init_args.gamma: {low: 0.0, high: 1.0}\n")
        ...     load_search_space(f)
        {'model.init_args.gamma': {'low': 0.0, 'high': 1.0}}
    """
    import yaml

    path = str(path)
    if not Path(path).is_file():
        raise SweepUsageError(f"--space {path}: no such file")
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise SweepUsageError(f"{path}: not valid YAML: {first}") from err
    if not isinstance(tree, Mapping) or not tree:
        raise SweepUsageError(
            f"{path}: expected a mapping of config keys to {{low, high}} or {{choices}}"
        )
    space = {}
    for key, spec in tree.items():
        key = str(key)
        if config_keys is not None and key not in config_keys:
            near = difflib.get_close_matches(key, list(config_keys), n=1, cutoff=0.5)
            hint = f"; did you mean '{near[0]}'?" if near else f"; {SWEEP_KEYS_HINT}"
            raise SweepUsageError(f"{path}: '{key}' is not a config key{hint}")
        space[key] = _check_spec(path, key, spec)
    return space


def suggest(trial: Any, key: str, spec: Mapping[str, Any]) -> Any:
    """Draw ``key`` for an Optuna trial from its checked spec; choices come back decoded.

    Lists and mappings among the choices are stored in Optuna as JSON strings (its
    categorical values must be scalars) and decoded here.
    """
    if "choices" in spec:
        encoded = [
            c if c is None or isinstance(c, bool | int | float | str) else json.dumps(c)
            for c in spec["choices"]
        ]
        value = trial.suggest_categorical(key, encoded)
        original = spec["choices"][encoded.index(value)]
        return original
    low, high = spec["low"], spec["high"]
    log, step = bool(spec.get("log", False)), spec.get("step")
    if isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int)):
        return trial.suggest_int(key, low, high, step=step or 1, log=log)
    return trial.suggest_float(key, float(low), float(high), step=step, log=log)
