"""A front in one run against one run per gamma: the wall time of training K models on Adult.

    python benchmarks/front.py [--members 21] [--epochs 10]

(a) front: one ``fairlit.front.FrontModel`` with K gammas (0 to 1), trained by one Trainer;
(b) separate: K ``FairRepresentationModel`` fits, one Trainer each, one after the other.

Same architecture as ``configs/adult.yaml`` (hybrid encoder, 64 tanh -> 20 binary neurons,
factorized MI), batch 256, no validation, checkpointing, logging or progress bar; one torch
thread. Prints both wall times, the front against the mean single fit, and the ratio.
"""

import argparse
import time

import torch
from _common import adult_on_one_thread, bare_trainer

from fairlit.data import AdultDataModule
from fairlit.front import FrontModel
from fairlit.models import FairRepresentationModel
from fairlit.nn import HybridBinaryEncoder
from fairlit.regularizers import MutualInformationRegularizer


def _encoder(dm: AdultDataModule) -> HybridBinaryEncoder:
    return HybridBinaryEncoder(
        dm.num_features, 20, hidden_features=(64,), straight_through="sigmoid"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=21)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    dm = adult_on_one_thread()
    gammas = [i / max(args.members - 1, 1) for i in range(args.members)]
    front = FrontModel(_encoder(dm), gammas, regularizer=MutualInformationRegularizer)
    start = time.perf_counter()
    bare_trainer(args.epochs, accelerator="cpu").fit(front, train_dataloaders=dm.train_dataloader())
    together = time.perf_counter() - start
    start = time.perf_counter()
    for gamma in gammas:
        model = FairRepresentationModel(
            _encoder(dm), regularizer=MutualInformationRegularizer, gamma=gamma
        )
        bare_trainer(args.epochs, accelerator="cpu").fit(
            model, train_dataloaders=dm.train_dataloader()
        )
    apart = time.perf_counter() - start
    print(
        f"Adult, {args.members} gammas, {args.epochs} epochs, batch 256, one torch thread, "
        f"{torch.__version__}"
    )
    print(f"front (one run)      {together:7.1f} s")
    print(f"separate (one each)  {apart:7.1f} s")
    print(f"front / one fit    = {together / (apart / args.members):.2f}")
    print(f"separate / front   = {apart / together:.2f}")


if __name__ == "__main__":
    main()
