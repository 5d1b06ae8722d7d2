"""Training speed: fairlit through the Trainer vs. a hand-written loop vs. fairlearn.

Measures, in one run on Adult (same architecture, batch size, epochs and
regularizer where the method has one):

(a) fairlit: ``configs/adult.yaml`` built through the CLI (hybrid encoder, 64 tanh
    -> 20 binary neurons, linear head, factorized MI, gamma 0.5), trained by its
    ``pytorch_lightning.Trainer`` with the config's logging (CSVLogger, every 50
    steps); no validation, checkpointing, progress bar or LR schedule, since the
    hand loop has none;
(b) hand: the same modules, loss, Adam step and whole-batch index slicing in a
    plain PyTorch loop;
(c) fairlearn: ``AdversarialFairnessClassifier`` (torch backend) with a
    comparable predictor (64 hidden units) for the same epochs and batch size.

Each is timed ``--repeats`` times, interleaved, and the median is reported.
The last lines print the ratios fairlit/hand and fairlit/fairlearn. Then the
forward+backward time of the MI estimators for m = 8, 12, 16 at batch 256 and 1024.

Run: ``python benchmarks/speed.py`` (``--epochs``, ``--batch-size``, ``--repeats``).
"""

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from fairlit.cli import build_cli
from fairlit.data import AdultDataModule
from fairlit.information import factorized_mutual_information, joint_mutual_information
from fairlit.nn import HybridBinaryEncoder, TaskHead
from fairlit.regularizers import MutualInformationRegularizer

GAMMA = 0.5
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "adult.yaml"


def time_fairlit(epochs: int, batch_size: int) -> float:
    """Build model, data and Trainer from configs/adult.yaml through the CLI, as a user would."""
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
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
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


def time_estimators() -> list[str]:
    lines = []
    generator = torch.Generator().manual_seed(0)
    for batch in (256, 1024):
        for m in (8, 12, 16):
            probs = torch.rand(batch, m, generator=generator).requires_grad_()
            s = torch.randint(0, 2, (batch,), generator=generator)
            for name, fn in (
                ("factorized", factorized_mutual_information),
                ("joint", joint_mutual_information),
            ):
                times = []
                for _ in range(5 if name == "joint" and m == 16 else 20):
                    start = time.perf_counter()
                    fn(probs, s, 2).backward()
                    times.append(time.perf_counter() - start)
                    probs.grad = None
                lines.append(
                    f"MI {name:10s} m={m:2d} batch={batch:4d}: {1e3 * statistics.median(times):8.2f} ms fwd+bwd"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the three contenders on equal footing; the machine is shared
    dm = AdultDataModule(batch_size=args.batch_size)
    dm.setup("fit")
    times: dict[str, list[float]] = {"fairlit": [], "hand": [], "fairlearn": []}
    for _ in range(args.repeats):
        times["hand"].append(time_hand(dm, args.epochs))
        times["fairlit"].append(time_fairlit(args.epochs, args.batch_size))
        times["fairlearn"].append(time_fairlearn(dm, args.epochs))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"Adult train split: {len(dm.train_dataset)} rows, batch {args.batch_size}, {args.epochs} epochs, "
        f"{args.repeats} repeats (median), torch threads 1, {torch.__version__}"
    )
    for line in time_estimators():
        print(line)
    for key in ("fairlit", "hand", "fairlearn"):
        print(f"{key:10s} {med[key]:7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in times[key])})")
    print(f"fairlit/hand      = {med['fairlit'] / med['hand']:.2f}")
    print(f"fairlit/fairlearn = {med['fairlit'] / med['fairlearn']:.2f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
