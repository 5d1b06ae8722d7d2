r"""One unit of sweep work, without Optuna: resolve a configuration, train a point, run a peer.

:func:`resolve_settings` builds the LightningCLI once from the configs and the
command-line overrides (nothing is trained) and returns the fully resolved
configuration as flat ``dotted.key -> value`` settings, which the sweep
records as the study's fingerprint. :func:`train_point` trains one fairlit
model through the same configs as ``fairlit fit`` and returns its final
validation and test metrics (and the probes of its code); :func:`peer_point`
runs one of :mod:`fairlit.peers` on the same splits.

Errors in the configuration raise :class:`SweepUsageError` with a single line.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fairlit.configuration import flatten, format_value, quiet_lightning
from fairlit.errors import one_line as _one_line

__all__ = [
    "SEED_KEYS",
    "SWEEP_KEYS_HINT",
    "SWEPT_KEYS",
    "SweepUsageError",
    "peer_point",
    "resolve_settings",
    "train_front",
    "train_point",
]

#: Config keys every sweep sets per seed: left out of the study's fingerprint.
SEED_KEYS = ("seed_everything", "data.init_args.seed")

#: Config keys a grid sweep sets per point: left out of the study's fingerprint.
SWEPT_KEYS = ("model.init_args.gamma", *SEED_KEYS)

#: Where to find the valid config keys, for messages.
SWEEP_KEYS_HINT = "`fairlit fit --config ... --print_config` lists the keys"

#: Overrides of every sweep point: the sweep records what it needs itself.
QUIET = (
    "--trainer.callbacks=null",  # per-epoch reports would drown the sweep's own output
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.enable_checkpointing=false",
    "--trainer.logger=false",
    "--test_after_fit=false",
)


class SweepUsageError(ValueError):
    """A sweep's arguments, configuration or search space are wrong; the message is one line."""


def _build(args: Sequence[str]) -> Any:
    """Instantiate the CLI (no run, no config.yaml); configuration errors become one line."""
    import argparse

    from fairlit.cli import build_cli

    try:
        return build_cli(
            list(args),
            save_config_callback=None,
            parser_kwargs={"exit_on_error": False, "allow_abbrev": False},
        )
    except argparse.ArgumentError as err:
        raise SweepUsageError(_one_line(str(err))) from err


def _config_args(configs: Sequence[str]) -> list[str]:
    return [arg for config in configs for arg in ("--config", str(config))]


def resolve_settings(
    configs: Sequence[str], overrides: Sequence[str] = (), vectorize: bool = False
) -> tuple[dict[str, Any], str]:
    """The fully resolved configuration of ``configs`` with ``overrides``, nothing trained.

    Args:
        configs: LightningCLI config files, composed in order.
        overrides: ``--key=value`` arguments given to every point.
        vectorize: Also check that the configuration trains as a front (``--vectorize``),
            with the front's own refusals.

    Returns:
        ``(settings, yaml_text)``: the flat ``dotted.key -> value`` settings (see
        :func:`flatten`) and the same configuration as YAML.

    Raises:
        SweepUsageError: for a missing file, an unknown key or an invalid value (one line),
            or with ``vectorize`` a configuration a front cannot train.
    """
    import yaml

    for config in configs:
        if not Path(config).is_file():
            raise SweepUsageError(f"--config {config}: no such file")
    with quiet_lightning():
        try:
            cli = _build([*_config_args(configs), *QUIET, *overrides])
        except SweepUsageError as err:
            raise SweepUsageError(_with_suggestion(str(err), configs, overrides)) from err
        if vectorize:
            _front_of(cli, [0.5])
    text = cli.parser.dump(cli.config, skip_none=False)
    return flatten(yaml.safe_load(text)), text


def _with_suggestion(message: str, configs: Sequence[str], overrides: Sequence[str]) -> str:
    """An unrecognized ``--key=value`` gets the closest valid key of the configuration."""
    if "nrecognized argument" not in message:
        return message
    bad = [o for o in overrides if o.split("=", 1)[0] in message]
    if not bad:
        return message
    from fairlit.cli import config_keys

    keys = config_keys([*_config_args(configs), *QUIET])
    if not keys:
        return message
    key = bad[0].split("=", 1)[0].removeprefix("--")
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    hint = f"did you mean --{close[0]}?" if close else SWEEP_KEYS_HINT
    return f"unknown option --{key}; {hint}"


def _sweep_args(params: Mapping[str, Any], seed: int) -> list[str]:
    args = [f"--{key}={format_value(value)}" for key, value in params.items()]
    return [*args, f"--seed_everything={seed}", f"--data.init_args.seed={seed}"]


def train_point(
    configs: Sequence[str],
    overrides: Sequence[str],
    params: Mapping[str, Any],
    seed: int,
    run_dir: str | Path | None = None,
    probe: bool = True,
    probe_rows: int | None = None,
    audit: bool = False,
) -> dict[str, Any]:
    """Train one fairlit model and return its final validation and test metrics.

    The configs are composed as by ``fairlit fit``, with the configs' callbacks,
    progress bar and checkpointing off; ``params`` (e.g. ``{"model.init_args.gamma": 0.5}``)
    and ``seed`` (``seed_everything`` and the data split's seed) are set on top of
    ``overrides``. After ``fit`` the final weights are validated and tested, so
    both metric sets belong to the same weights.

    Args:
        configs: LightningCLI config files.
        overrides: ``--key=value`` arguments for every point.
        params: The point's swept config keys and values.
        seed: The point's seed.
        run_dir: If given: ``metrics.csv`` (CSVLogger), ``config.yaml`` and the final
            checkpoint ``model.ckpt`` go here.
        probe: Probe the learned code with external classifiers
            (:func:`fairlit.probes.probe_representation`; reported, never selected on).
        probe_rows: Fit the probes (and the audit's classifiers) on a seeded subsample of
            this many training rows.
        audit: Run :func:`fairlit.audit.downstream_audit` on the frozen code (reported,
            never selected on).

    Returns:
        ``val/<metric>`` and ``test/<metric>`` as logged by the model, ``probe/<...>`` if
        ``probe``, ``audit/<form>/<classifier>/<metric>`` and the worst values of
        :func:`fairlit.audit.worst_downstream` if ``audit``, and ``config`` (the resolved
        configuration as YAML).

    Raises:
        SweepUsageError: for a configuration error (one line).
    """
    logger: list[str] = []
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "class_path": "pytorch_lightning.loggers.CSVLogger",
            "init_args": {"save_dir": str(run_dir), "name": "", "version": ""},
        }
        logger = [f"--trainer.logger={json.dumps(spec)}"]
    with quiet_lightning():
        cli = _build(
            [*_config_args(configs), *QUIET, *overrides, *logger, *_sweep_args(params, seed)]
        )
        config_text = cli.parser.dump(cli.config, skip_none=False)
        trainer, model, dm = cli.trainer, cli.model, cli.datamodule
        trainer.fit(model, datamodule=dm)
        row = _measure(trainer, model, dm, seed, run_dir, probe, probe_rows, audit)
    row["config"] = config_text
    if run_dir is not None:
        (run_dir / "config.yaml").write_text(config_text)
    return row


def train_front(
    configs: Sequence[str],
    overrides: Sequence[str],
    key: str,
    values: Sequence[float],
    seed: int,
    run_dirs: Sequence[str | Path | None] | None = None,
    probe: bool = True,
    probe_rows: int | None = None,
    audit: bool = False,
) -> list[dict[str, Any]]:
    """Train the points ``{key: value}`` of one seed as one front; a row per point.

    The configs' model is built once at ``seed`` and copied into a
    :class:`~fairlit.front.FrontModel` with one member per value
    (:meth:`~fairlit.front.FrontModel.from_model`), so member ``k`` is the run
    :func:`train_point` would make at ``values[k]``: the same initial weights and random
    stream. Every member is then validated, tested, probed and saved like that run.

    Args:
        configs: LightningCLI config files.
        overrides: ``--key=value`` arguments for every point.
        key: The swept config key: ``model.init_args.gamma``.
        values: One gamma per member.
        seed: The points' seed.
        run_dirs: One folder per value (or ``None``): ``config.yaml`` (the configuration of
            the separate run) and ``model.ckpt`` (the member's final weights).
        probe: Probe each member's code (as :func:`train_point`).
        probe_rows: Training rows of the probes and the audit.
        audit: Run the downstream audit on each member.

    Returns:
        :func:`train_point`'s row for every value, in order.

    Raises:
        SweepUsageError: for another swept key, a model that is not a
            ``FairRepresentationModel``, or a configuration error (one line).
    """
    if key != "model.init_args.gamma":
        raise SweepUsageError(f"--vectorize sweeps gamma only, not {key}")
    with quiet_lightning():
        cli = _build(
            [*_config_args(configs), *QUIET, *overrides, *_sweep_args({key: values[0]}, seed)]
        )
        trainer, dm = cli.trainer, cli.datamodule
        front = _front_of(cli, [float(v) for v in values])
        trainer.fit(front, datamodule=dm)
        rows = []
        folders = list(run_dirs) if run_dirs is not None else [None] * len(values)
        for value, member, folder in zip(values, front.members(), folders, strict=True):
            config = cli.config.clone()
            config[key] = float(value)
            run_dir = None if folder is None else Path(folder)
            if run_dir is not None:
                run_dir.mkdir(parents=True, exist_ok=True)
            row = _measure(trainer, member, dm, seed, run_dir, probe, probe_rows, audit, True)
            row["config"] = cli.parser.dump(config, skip_none=False)
            if run_dir is not None:
                (run_dir / "config.yaml").write_text(row["config"])
            rows.append(row)
    return rows


def _front_of(cli: Any, gammas: Sequence[float]) -> Any:
    """The configs' model as a front of ``gammas``, checked against the configs' Trainer.

    Raises:
        SweepUsageError: for another model class, or what the front refuses (one line).
    """
    from fairlit.errors import ConfigurationError
    from fairlit.front import FrontModel
    from fairlit.models import FairRepresentationModel

    if type(cli.model) is not FairRepresentationModel:
        raise SweepUsageError(
            f"--vectorize: model.class_path must be a FairRepresentationModel, not "
            f"{type(cli.model).__name__}; change it or drop --vectorize"
        )
    try:
        front = FrontModel.from_model(cli.model, list(gammas))
        front.check_trainer(cli.trainer)
    except ConfigurationError as err:
        raise SweepUsageError(f"--vectorize: {err}") from err
    return front


def _measure(
    trainer: Any,
    model: Any,
    dm: Any,
    seed: int,
    run_dir: Path | None,
    probe: bool,
    probe_rows: int | None,
    audit: bool,
    member: bool = False,
) -> dict[str, Any]:
    """Validate and test the trained ``model``; probe, audit and save it (see train_point)."""
    import numpy as np

    from fairlit.probes import encode_dataset, probe_representation

    [val] = trainer.validate(model, datamodule=dm, verbose=False)
    [test] = trainer.test(model, datamodule=dm, verbose=False)
    if run_dir is not None:
        # The model just tested; a front's member leaves out the front's optimizer state.
        trainer.save_checkpoint(run_dir / "model.ckpt", weights_only=member)
    row: dict[str, Any] = {k: float(v) for k, v in {**val, **test}.items()}
    row.update(_validation_dp_se(model, dm, seed))
    if probe:
        train = encode_dataset(model, dm.train_dataset, seed=seed).numpy()
        tested = encode_dataset(model, dm.test_dataset, seed=seed).numpy()
        rows = np.arange(len(train))
        if probe_rows is not None and probe_rows < len(rows):
            rows = np.sort(np.random.default_rng(seed).choice(rows, probe_rows, replace=False))
        row.update(
            probe_representation(
                train[rows],
                dm.train_dataset.y.numpy()[rows],
                dm.train_dataset.s.numpy()[rows],
                tested,
                dm.test_dataset.y.numpy(),
                dm.test_dataset.s.numpy(),
                seed=seed,
            )
        )
    if audit:
        from fairlit.audit import downstream_audit, worst_downstream

        rows_ = downstream_audit(model, dm, seed=seed, train_rows=probe_rows)
        for result in rows_:
            prefix = f"audit/{result['form']}/{result['classifier']}"
            row.update(
                {
                    f"{prefix}/{k.removeprefix('test/')}": v
                    for k, v in result.items()
                    if k.startswith("test/")
                }
            )
        row.update(worst_downstream(rows_))
    return row


def _validation_dp_se(model: Any, dm: Any, seed: int) -> dict[str, float]:
    """``val/dp_difference_se``: the standard error of the validation ΔDP (binary targets)."""
    import torch

    from fairlit.metrics.uncertainty import demographic_parity_standard_error

    dataset = getattr(dm, "val_dataset", None)
    if dataset is None or len(dataset.y) == 0 or not hasattr(model, "predictive_proba"):
        return {}
    model.eval()
    parameter = next(model.parameters())
    # The model's dtype: a 64-true run holds float64 weights, the split float32 features.
    x = dataset.x.to(device=parameter.device, dtype=parameter.dtype)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probs = model.predictive_proba(x).cpu()
    if probs.ndim != 1:  # multi-class targets: no binary ΔDP
        return {}
    groups = dataset.s
    num_groups = getattr(dm, "num_groups", None)
    return {"val/dp_difference_se": demographic_parity_standard_error(probs, groups, num_groups)}


def peer_point(
    configs: Sequence[str],
    overrides: Sequence[str],
    method: str,
    param: float | None,
    seed: int,
    epochs: int = 10,
) -> dict[str, Any]:
    """Run one peer of :mod:`fairlit.peers` on the splits of ``configs`` at ``seed``.

    Args:
        configs: LightningCLI config files (their DataModule gives the splits).
        overrides: ``--key=value`` arguments for every point.
        method: A name of :data:`fairlit.peers.PEER_METHODS`.
        param: The peer's parameter (see :func:`fairlit.peers.run_peer`).
        seed: Seed of the data split and of the peer.
        epochs: Training epochs of fairlearn's AdversarialFairnessClassifier.

    Returns:
        ``val/<metric>`` and ``test/<metric>`` (accuracy, auc, dp_difference, eo_difference),
        and ``audit/...`` for a peer that hands on a representation (``"lfr"``).

    Raises:
        SweepUsageError: for a configuration error (one line).
    """
    from fairlit.peers import run_peer

    with quiet_lightning():
        cli = _build([*_config_args(configs), *QUIET, *overrides, f"--data.init_args.seed={seed}"])
        result = run_peer(cli.datamodule, method, param, seed=seed, epochs=epochs)
    return {k: v for k, v in result.items() if k.startswith(("val/", "test/", "audit/"))}
