"""Where a training step's time goes: cProfile of fairlit's fit and of a minimal Lightning one.

    python benchmarks/step_profile.py [--epochs 3]

Profiles (a) ``configs/adult.yaml`` through the CLI and its Trainer and (b) the same modules
in a minimal LightningModule with a bare Trainer (both as in ``benchmarks/speed.py``: no
validation, checkpointing, progress bar or schedule), and times (c) the plain PyTorch loop.
Prints each one's time per step, the functions with the most own time per step in (a) and
(b), and the time per step spent in fairlit's own code. One torch thread; the profiler adds
its own overhead to every Python call, so compare the rows, not the totals with speed.py.
"""

import argparse
import cProfile
import pstats

import torch
from _common import adult_on_one_thread
from speed import time_fairlit, time_hand, time_lightning


def _profile(timed) -> pstats.Stats:
    """Profile only the fit inside ``timed`` (which builds its objects first)."""
    profiler = cProfile.Profile()
    timed(lambda fit: profiler.runcall(fit))
    return pstats.Stats(profiler)


def _steps(stats: pstats.Stats) -> int:
    """The profiled run's training steps: its calls of autograd's backward."""
    return next(v[1] for k, v in stats.stats.items() if "run_backward" in k[2])  # type: ignore[attr-defined]


def _top(stats: pstats.Stats, steps: int, rows: int, only: str | None = None) -> list[str]:
    entries = []
    for (filename, line, name), (_, calls, own, _total, _) in stats.stats.items():  # type: ignore[attr-defined]
        if only is None or only in filename:
            where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
            entries.append((own, calls, f"{where}:{line}({name})"))
    entries.sort(reverse=True)
    return [f"  {1e6 * own / steps:8.1f} us/step  {calls / steps:6.1f} calls/step  {where}"
            for own, calls, where in entries[:rows]]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    dm = adult_on_one_thread()
    steps = args.epochs * -(-len(dm.train_dataset) // 256)
    hand = time_hand(dm, args.epochs)
    fairlit = _profile(lambda run: time_fairlit(args.epochs, 256, run))
    lightning = _profile(lambda run: time_lightning(dm, args.epochs, run))
    print(f"Adult, batch 256, {args.epochs} epochs, one torch thread, "
          f"{torch.__version__}; under cProfile except the hand loop")  # fmt: skip
    print(f"hand loop (no profiler): {steps} steps, {1e6 * hand / steps:.0f} us/step")
    for label, stats in (("(a) fairlit", fairlit), ("(b) minimal Lightning", lightning)):
        total, own_steps = stats.total_tt, _steps(stats)  # type: ignore[attr-defined]
        print(f"\n{label}: {own_steps} steps, {1e6 * total / own_steps:.0f} us/step under the "
              "profiler (the Trainer's set-up included); most own time:")  # fmt: skip
        print("\n".join(_top(stats, own_steps, 12)))
    print("\n(a)'s time in fairlit's own code (fairlit/ files), most first:")
    print("\n".join(_top(fairlit, _steps(fairlit), 8, only="fairlit/")))


if __name__ == "__main__":
    main()
