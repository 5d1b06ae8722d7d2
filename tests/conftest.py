"""Shared test set-up and fixtures.

* Every test runs in its own temporary folder, and the session fails if a test left anything
  in the repository root.
* ``tiny_trainer``: a quiet, single-process CPU :class:`pytorch_lightning.Trainer` writing into
  the test's ``tmp_path``.
* ``float64``: torch's default dtype is float64 for the test.
* ``quiet_args``: the command-line options that silence a ``fairlit`` run (no progress bar,
  no model summary).
* ``gloo_ranks``: run a function on two (or more) CPU processes joined by a gloo process
  group, and collect what each rank returns.
* ``clean_spawn_exit``: a callback that spares a ``ddp_spawn`` process gloo's flaky teardown.
* ``device``: ``cpu``, and ``cuda`` too when CUDA is available (tests that take it run on
  both; ``benchmarks/device_check.sh`` runs them on a GPU machine).
"""

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
# Caches the tools themselves keep in the working tree (all git-ignored).
_TOOL_CACHES = {".pytest_cache", "__pycache__", ".ruff_cache", ".mypy_cache", ".coverage"}


def _root_entries() -> set[str]:
    return {path.name for path in ROOT.iterdir()} - _TOOL_CACHES


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_ENTRIES] = _root_entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test left a file or folder in the repository root."""
    new = sorted(_root_entries() - session.config.stash.get(_ENTRIES, set()))
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: the tests wrote into the repository root: {new}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_ENTRIES = pytest.StashKey[set]()


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path, monkeypatch):
    """Run every test from its own temporary folder.

    Lightning and LightningCLI write relative paths (``lightning_logs/``, ``config.yaml``,
    ``checkpoints/``) into the working directory; from here they can never land in the
    repository. Tests name repository files by absolute path.
    """
    monkeypatch.chdir(tmp_path)


# -- a tiny trainer -------------------------------------------------------------------------------


@pytest.fixture
def tiny_trainer(tmp_path: Path) -> Callable[..., pl.Trainer]:
    """A factory of quiet CPU trainers: one epoch, no logger, checkpoint, bar or summary.

    Keyword arguments override the defaults, e.g. ``tiny_trainer(max_steps=1, logger=...)``.
    """

    def make(**overrides: Any) -> pl.Trainer:
        options: dict[str, Any] = {
            "accelerator": "cpu",
            "devices": 1,
            "max_epochs": 1,
            "default_root_dir": tmp_path,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        }
        options.update(overrides)
        return pl.Trainer(**options)

    return make


@pytest.fixture
def float64():
    """Make float64 torch's default dtype for one test (modules built in it stay float64).

    For tests that compare two computations whose summation orders differ (a front against
    separate fits, one process against two): in float32 their last bits depend on the CPU's
    vector kernel, in float64 they agree to about 1e-13.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# -- quiet command-line runs ----------------------------------------------------------------------

QUIET_ARGS = ("--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false")


@pytest.fixture
def quiet_args() -> list[str]:
    """Options that silence a ``fairlit`` command (a fresh list: tests may extend it)."""
    return list(QUIET_ARGS)


# -- a gloo process group on CPU ------------------------------------------------------------------


def _gloo_rank(
    rank: int, world_size: int, folder: str, fn: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    torch.set_num_threads(1)
    # A collective that one rank never joins fails after a minute instead of hanging.
    dist.init_process_group(
        "gloo",
        init_method=f"file://{folder}/store",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=60),
    )
    try:
        torch.save(fn(rank, world_size, *args), os.path.join(folder, f"rank{rank}.pt"))
        # No rank tears down its connections while another is still inside a collective.
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # Skip interpreter finalization: gloo's C++ teardown at exit occasionally aborts
    # ("terminate called without an active exception") after all the work is saved.
    os._exit(0)


@pytest.fixture
def gloo_ranks(tmp_path: Path) -> Callable[..., list[Any]]:
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` gloo processes (default 2).

    ``fn`` and ``args`` must be picklable (a module-level function); each rank's return value
    comes back through ``torch.save``, in rank order. An exception on a rank fails the test
    with that rank's traceback.
    """

    def run(fn: Callable[..., Any], *args: Any, world_size: int = 2) -> list[Any]:
        folder = tmp_path / "gloo"
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        mp.spawn(_gloo_rank, args=(world_size, str(folder), fn, args), nprocs=world_size)
        return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(world_size)]

    return run


class CleanSpawnExit(pl.Callback):
    """For ``ddp_spawn`` tests: a spawned process leaves without gloo's C++ teardown.

    That teardown occasionally aborts at exit ("terminate called without an active
    exception", SIGABRT) after all the work is done, failing the run (about 1 in 10 on this
    machine). At the Trainer's teardown in a spawned process, the processes meet at a barrier
    and an exit hook ends the process with status 0 once Lightning has handed its results
    back. The main process is left alone.
    """

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        import atexit
        import multiprocessing

        if multiprocessing.parent_process() is None or not dist.is_initialized():
            return
        dist.barrier()
        atexit.register(os._exit, 0)


@pytest.fixture
def clean_spawn_exit() -> pl.Callback:
    """A :class:`CleanSpawnExit` callback for a ``ddp_spawn`` Trainer."""
    return CleanSpawnExit()


# -- devices --------------------------------------------------------------------------------------

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each available device in turn: ``cpu``, then ``cuda`` when there is one."""
    return torch.device(request.param)
