"""Speed of fairlit, in one run: the training step, the fixed cost of a fit, the MI kernels.

    python benchmarks/speed.py [--epochs 5] [--repeats 3]

1. **The training step**, on Adult with one torch thread, timed ``--repeats`` times
   interleaved (medians):

   (a) fairlit: ``configs/adult.yaml`` built through the CLI (hybrid encoder, 64 tanh -> 20
       binary neurons, linear head, factorized MI, gamma 0.5) and trained by its Trainer with
       the config's logging; no validation, checkpointing, progress bar or LR schedule,
       since the hand loop has none;
   (b) lightning: the same modules and loss in a minimal LightningModule and a bare Trainer
       (what Lightning's loop costs, without anything of fairlit's);
   (c) hand: the same modules, loss, Adam step and whole-batch index slicing in a plain
       PyTorch loop;
   (d) fairlearn: ``AdversarialFairnessClassifier`` (torch backend), 64 hidden units, the
       same epochs and batch size.

2. **The fixed cost of** ``fairlit fit --config configs/adult.yaml`` (10 epochs): the whole
   command's wall time, and in-process its parts: importing, building the configuration and
   the objects, reading and splitting the data, training (with its validation), testing.

3. **The joint MI**, forward and backward at 1,024 rows for m = 8, 12, 16 (and 20 on a
   GPU): time and peak extra memory, each in a fresh process, the matrix-product kernel
   (``fairlit.joint``) against autograd through the enumeration of every code.
"""

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import adult_on_one_thread

from fairlit.cli import build_cli
from fairlit.data import AdultDataModule
from fairlit.nn import HybridBinaryEncoder, TaskHead
from fairlit.regularizers import MutualInformationRegularizer

GAMMA = 0.5
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "adult.yaml"


def _direct(fit):
    return fit()


def time_fairlit(epochs: int, batch_size: int, run=_direct) -> float:
    """Build model, data and Trainer from configs/adult.yaml through the CLI, as a user would.

    ``run`` calls the fit (``benchmarks/step_profile.py`` profiles it there).
    """
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        cli = build_cli(
            [
                "--config",
                str(CONFIG),
                f"--trainer.max_epochs={epochs}",
                f"--data.init_args.batch_size={batch_size}",
                f"--model.init_args.gamma={GAMMA}",
                "--model.init_args.lr_scheduler=null",  # the hand loop has none either
                "--trainer.accelerator=cpu",
                "--trainer.deterministic=false",
                "--trainer.limit_val_batches=0",
                "--trainer.num_sanity_val_steps=0",
                "--trainer.enable_checkpointing=false",
                "--trainer.enable_progress_bar=false",
                "--trainer.enable_model_summary=false",
                "--trainer.callbacks=null",
                f"--trainer.logger.init_args.save_dir={root}",
                "--test_after_fit=false",
            ]
        )
        cli.datamodule.setup("fit")  # parsing is not training: the hand loop gets it ready-made too
        start = time.perf_counter()
        run(lambda: cli.trainer.fit(cli.model, datamodule=cli.datamodule))
        return time.perf_counter() - start


def time_hand(dm: AdultDataModule, epochs: int) -> float:
    torch.manual_seed(0)
    encoder = HybridBinaryEncoder(
        dm.num_features, 20, hidden_features=(64,), straight_through="sigmoid"
    )
    head = TaskHead(20, 2)
    regularizer = MutualInformationRegularizer(20, 2)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    x, y, s = dm.train_dataset.x, dm.train_dataset.y, dm.train_dataset.s
    yf = y.float()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(y), dm.batch_size):
            idx = order[i : i + dm.batch_size]
            output = encoder(x[idx])
            logits = head(output.code)
            task = torch.nn.functional.binary_cross_entropy_with_logits(logits, yf[idx])
            loss = (1 - GAMMA) * task + GAMMA * regularizer(output, s[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def time_fairlearn(dm: AdultDataModule, epochs: int) -> float:
    from fairlearn.adversarial import AdversarialFairnessClassifier

    x, y, s = (t.numpy() for t in (dm.train_dataset.x, dm.train_dataset.y, dm.train_dataset.s))
    clf = AdversarialFairnessClassifier(
        backend="torch",
        predictor_model=[64, "tanh"],
        adversary_model=[3, "leaky_relu"],
        batch_size=dm.batch_size,
        epochs=epochs,
        shuffle=True,
        progress_updates=None,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x, y, sensitive_features=s)
    return time.perf_counter() - start


class _Minimal:
    """A minimal LightningModule around the same modules (built lazily: Lightning imports)."""

    @staticmethod
    def make(dm: AdultDataModule):
        import pytorch_lightning as pl

        class Minimal(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                self.encoder = HybridBinaryEncoder(
                    dm.num_features, 20, hidden_features=(64,), straight_through="sigmoid"
                )
                self.head = TaskHead(20, 2)
                self.regularizer = MutualInformationRegularizer(20, 2)

            def training_step(self, batch, batch_idx):
                output = self.encoder(batch["x"])
                logits = self.head(output.code)
                task = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, batch["y"].float()
                )
                return (1 - GAMMA) * task + GAMMA * self.regularizer(output, batch["s"])

            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters(), lr=1e-3)

        return Minimal()


def time_lightning(dm: AdultDataModule, epochs: int, run=_direct) -> float:
    from _common import bare_trainer

    trainer = bare_trainer(epochs, accelerator="cpu")
    model = _Minimal.make(dm)
    start = time.perf_counter()
    run(lambda: trainer.fit(model, train_dataloaders=dm.train_dataloader()))
    return time.perf_counter() - start


def fixed_cost() -> list[str]:
    """The wall time of ``fairlit fit`` on Adult, and where it goes."""
    python = [sys.executable, "-c"]
    start = time.perf_counter()
    subprocess.run([*python, "pass"], check=True)
    bare = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([*python, "import fairlit.cli"], check=True)
    imports = time.perf_counter() - start - bare
    answers = []
    for flag in ("--version", "--help"):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fairlit", flag], check=True, capture_output=True)
        answers.append(f"fairlit {flag}: {time.perf_counter() - start:.2f} s")
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "fairlit", "fit", "--config", str(CONFIG),
             f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false"],
            check=True, capture_output=True,
        )  # fmt: skip
        command = time.perf_counter() - start
    with (
        tempfile.TemporaryDirectory() as root,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),  # the fit's own report table
    ):
        warnings.filterwarnings("ignore")
        start = time.perf_counter()
        cli = build_cli(["--config", str(CONFIG), f"--trainer.default_root_dir={root}",
                         "--trainer.enable_progress_bar=false"])  # fmt: skip
        built = time.perf_counter()
        cli.datamodule.setup("fit")
        data = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        trained = time.perf_counter()
        cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
        tested = time.perf_counter()
    return [
        "; ".join(answers) + f" (a bare Python start: {bare:.2f} s)",
        f"fairlit fit --config configs/adult.yaml (10 epochs): {command:.1f} s wall, of which",
        f"  import fairlit.cli (Lightning, torch, ...)        {imports:5.1f} s",
        f"  configuration and objects (LightningCLI)           {built - start:5.1f} s",
        f"  read, split and encode Adult                       {data - built:5.1f} s",
        f"  train 10 epochs (validation every epoch included)  {trained - data:5.1f} s",
        f"  test (32 code samples per prediction)              {tested - trained:5.1f} s",
        f"  the rest (Python, Trainer set-up, writing logs)    "
        f"{command - imports - (tested - start):5.1f} s",
    ]


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss_kib() -> int:
    """Reset the peak resident memory (Linux); return the resident memory now, in KiB."""
    import resource

    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return _status_kib("VmRSS") or 0
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kib() -> int:
    import resource

    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _joint_probe(m: int, kernel: str) -> None:
    """In a fresh process: time and peak extra memory of one joint MI forward+backward."""
    from fairlit.joint import joint_mutual_information_autograd_nats, joint_mutual_information_nats

    torch.set_num_threads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator().manual_seed(m)
    probs = torch.rand(1024, m, generator=gen).to(device)
    groups = torch.randint(0, 2, (1024,), generator=gen).to(device)
    fn = (
        joint_mutual_information_nats
        if kernel == "matmul"
        else joint_mutual_information_autograd_nats
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    # Peak resident memory during the calls over the resident memory before them: Linux resets
    # the peak (VmHWM) on request; elsewhere the process's peak so far is the baseline.
    rss = _reset_peak_rss_kib()
    times = []
    for _ in range(3):
        p = probs.clone().requires_grad_()
        start = time.perf_counter()
        fn(p, groups, 2).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = max(_peak_rss_kib() - rss, 0) / 1024
    print(json.dumps({"ms": 1e3 * statistics.median(times), "MiB": peak, "device": device.type}))


def joint_lines() -> list[str]:
    lines = []
    widths = [8, 12, 16] + ([20] if torch.cuda.is_available() else [])
    for m in widths:
        for kernel in ("matmul", "autograd"):
            if kernel == "autograd" and m > 16:
                continue
            done = subprocess.run(
                [sys.executable, __file__, "--joint-probe", str(m), kernel],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            probe = json.loads(done.stdout.strip().splitlines()[-1])
            lines.append(
                f"joint MI m={m:2d} {kernel:8s} ({probe['device']}): {probe['ms']:8.1f} ms fwd+bwd, "
                f"peak extra memory {probe['MiB']:7.1f} MiB"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--joint-probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.joint_probe:
        _joint_probe(int(args.joint_probe[0]), args.joint_probe[1])
        return
    dm = adult_on_one_thread(args.batch_size)
    times: dict[str, list[float]] = {"fairlit": [], "lightning": [], "hand": [], "fairlearn": []}
    for _ in range(args.repeats):
        times["hand"].append(time_hand(dm, args.epochs))
        times["fairlit"].append(time_fairlit(args.epochs, args.batch_size))
        times["lightning"].append(time_lightning(dm, args.epochs))
        times["fairlearn"].append(time_fairlearn(dm, args.epochs))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"Adult train split: {len(dm.train_dataset)} rows, batch {args.batch_size}, {args.epochs} epochs, "
        f"{args.repeats} repeats (median), torch threads 1, {torch.__version__}"
    )
    for key in ("fairlit", "lightning", "hand", "fairlearn"):
        print(f"{key:10s} {med[key]:7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times[key])})")
    print(f"fairlit/hand      = {med['fairlit'] / med['hand']:.2f}")
    print(f"lightning/hand    = {med['lightning'] / med['hand']:.2f}")
    print(f"fairlit/lightning = {med['fairlit'] / med['lightning']:.2f}")
    print(f"fairlit/fairlearn = {med['fairlit'] / med['fairlearn']:.2f}")
    for line in fixed_cost():
        print(line)
    for line in joint_lines():
        print(line)
    if not torch.cuda.is_available():
        print("no GPU here: benchmarks/device_check.sh reports the GPU figures on a GPU machine")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
