"""Identity vs. sigmoid straight-through estimator on Adult (gamma 0, 5 epochs, seed 0).

Prints, per estimator, test accuracy, test AUC and the number of distinct
thresholded codes on the test split (20 neurons: up to 2^20).

Run: ``python benchmarks/straight_through.py``
"""

import pytorch_lightning as pl
import torch
from _common import bare_trainer

from fairlit.data import AdultDataModule
from fairlit.models import FairRepresentationModel
from fairlit.nn import HybridBinaryEncoder


def main() -> None:
    dm = AdultDataModule(eval_batch_size=4096)
    for estimator in ("identity", "sigmoid"):
        pl.seed_everything(0, verbose=False)
        encoder = HybridBinaryEncoder(
            dm.num_features, 20, hidden_features=(64,), straight_through=estimator
        )
        model = FairRepresentationModel(encoder, gamma=0.0)
        trainer = bare_trainer(5)
        trainer.fit(model, datamodule=dm)
        result = trainer.test(model, datamodule=dm, verbose=False)[0]
        model.eval()
        with torch.no_grad():
            probs = model.encoder(dm.test_dataset.x).probs
        distinct = len(torch.unique((probs >= 0.5).long(), dim=0))
        print(
            f"{estimator:9s} accuracy {result['test/accuracy']:.4f}  AUC {result['test/auc']:.4f}  "
            f"distinct codes {distinct}"
        )


if __name__ == "__main__":
    main()
