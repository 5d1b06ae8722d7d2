"""Many sweep workers on this machine: a pool of spawned processes, and a progress bar.

:class:`WorkerPool` starts the other workers early (their imports overlap with the parent
resolving the configuration); :func:`run_plans` hands every worker the same list of studies,
runs worker 0 in this process and counts the points. SIGTERM or Ctrl-C stops every worker,
each failing its running trial first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import optuna

from fairlit.sweep.storage import open_storage
from fairlit.sweep.study import StudyPlan, TrialCounts, count_trials
from fairlit.sweep.worker import run_worker

__all__ = ["WorkerPool", "run_plans"]


def _worker_main(jobs: Any, worker: int, threads: int) -> None:
    """Entry point of a worker process: import, wait for the plans, run, exit with its status.

    The process starts before the plans are known, so its imports overlap with the parent
    resolving the configuration; ``None`` from ``jobs`` sends it home.
    """
    import sys

    try:
        _limit_threads(threads)
        import pytorch_lightning  # noqa: F401  (the heavy imports, while the parent prepares)

        import fairlit.sweep.trials  # noqa: F401

        job = jobs.get()
        if job is None:
            sys.exit(0)
        plans, storage_spec = job
        status = run_worker(
            plans, storage_spec, worker, report=lambda m: print(m, file=sys.stderr, flush=True)
        )
    except KeyboardInterrupt:
        status = 130
    except SystemExit as err:
        status = err.code if isinstance(err.code, int) else 1
    sys.exit(status)


class WorkerPool:
    """``count - 1`` worker processes started early; this process is worker 0.

    Each is a fresh (spawned) process with ``cores / count`` torch threads that imports
    while this process resolves the configuration and prepares the studies; :meth:`start`
    hands them the plans, :meth:`cancel` sends them home.

    Args:
        count: Workers in all, this process included.
    """

    def __init__(self, count: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.threads = max(1, _cores() // count)
        self.queues = [context.SimpleQueue() for _ in range(1, count)]
        self.processes = [
            context.Process(target=_worker_main, args=(queue, i, self.threads), daemon=False)
            for i, queue in enumerate(self.queues, start=1)
        ]
        for process in self.processes:
            process.start()

    def start(self, plans: Sequence[StudyPlan], storage_spec: str) -> None:
        """Hand every waiting worker the prepared plans."""
        for queue in self.queues:
            queue.put((list(plans), storage_spec))

    def cancel(self) -> None:
        """Send the workers home without work, and wait for them."""
        for queue, process in zip(self.queues, self.processes, strict=True):
            if process.is_alive():
                queue.put(None)
        for process in self.processes:
            process.join(timeout=60)


def _limit_threads(threads: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_plans(
    plans: Sequence[StudyPlan],
    storage_spec: str,
    workers: int = 1,
    progress: bool = True,
    pool: WorkerPool | None = None,
) -> TrialCounts:
    """Run prepared plans with ``workers`` processes, each with ``cores / workers`` torch threads.

    This process is the first worker; the others are started as fresh (spawned) processes.
    A progress bar counts the plans' points: done, failed, running, remaining.

    Args:
        plans: The studies, prepared by :func:`prepare_study`.
        storage_spec: See :func:`open_storage`.
        workers: Worker processes on this machine.
        progress: Show the progress bar.
        pool: Workers started earlier (:class:`WorkerPool` of ``workers``); ``None`` starts them.

    Returns:
        The final counts over all plans.

    Raises:
        KeyboardInterrupt: on Ctrl-C (running trials are marked failed first).
    """
    from tqdm.auto import tqdm

    storage = open_storage(storage_spec)
    studies = [optuna.load_study(study_name=p.name, storage=storage) for p in plans]

    def counts() -> TrialCounts:
        total = TrialCounts()
        for study, plan in zip(studies, plans, strict=True):
            total = total + count_trials(study, plan)
        return total

    first = counts()
    bar = tqdm(
        total=first.total,
        desc="fairlit sweep",
        unit="trial",
        disable=not progress,
        dynamic_ncols=True,
    )

    def update() -> TrialCounts:
        now = counts()
        bar.n = now.done
        bar.set_postfix_str(f"failed {now.failed}, running {now.running}", refresh=False)
        bar.refresh()
        return now

    update()
    pool = pool or WorkerPool(workers)
    processes = pool.processes
    try:
        pool.start(plans, storage_spec)
        _limit_threads(pool.threads)
        status = run_worker(plans, storage_spec, 0, on_trial=update, report=bar.write)
        if status:  # SIGTERM: the other workers fail their running trials and stop too
            _stop(processes)
        while any(p.is_alive() for p in processes):
            update()
            time.sleep(1.0)
        bad = [p.exitcode for p in processes if p.exitcode]
        if status or bad:
            raise SystemExit(max([status, *bad]))
        return update()
    except BaseException:
        _stop(processes)
        raise
    finally:
        for process in processes:
            process.join(timeout=60)
        bar.close()


def _stop(processes: Sequence[Any]) -> None:
    """SIGTERM to the running worker processes: each fails its running trial and exits."""
    for process in processes:
        if process.pid is not None and process.is_alive():
            process.terminate()
