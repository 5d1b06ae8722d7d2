"""Write the tutorial notebooks from the cell sources below, without outputs.

Run it from anywhere after editing a cell: ``python notebooks/make_notebooks.py``. It rewrites
``01_quickstart.ipynb`` and ``02_extending.ipynb`` next to this file, with fixed cell ids and
no outputs, so that regenerating an unchanged notebook gives the same file and reviews only
see source changes. ``python -m pytest --nbmake notebooks`` then executes them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

# Shared by both notebooks: keeps Lightning's console output to what the text discusses.
QUIET_OUTPUT = """\
# Less console noise: Lightning's info lines (GPU available, seed set, ...) and two warnings
# that say nothing about this notebook.
logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
warnings.filterwarnings("ignore", message=r".*isinstance\\(treespec, LeafSpec\\)")
"""


def md(text: str) -> tuple[str, str]:
    """A markdown cell."""
    return "markdown", textwrap.dedent(text).strip()


def code(text: str) -> tuple[str, str]:
    """A code cell."""
    return "code", textwrap.dedent(text).strip()


def setup(text: str) -> tuple[str, str]:
    """A notebook's first code cell: ``text``, then :data:`QUIET_OUTPUT`."""
    return "code", textwrap.dedent(text).strip() + "\n\n" + QUIET_OUTPUT.strip()


QUICKSTART = [
    md(
        """
        # Quick start: train SQNN and look at its representation

        This notebook trains the SQNN model of the paper (a tanh hidden layer, then 20
        stochastic binary neurons, then a linear head) on the Adult census data, with `sex`
        as the sensitive attribute. Then it

        1. reads the test metrics,
        2. looks at how often each binary neuron fires in each group,
        3. probes the learned code with external classifiers,
        4. trains three values of `gamma` and plots accuracy against demographic parity.

        Training is cut to 2 epochs so that the notebook runs in about a minute on one CPU
        core; the numbers are rougher than those of a full run
        (`fairlit fit --config configs/adult.yaml`, 10 epochs). Everything the runs write
        goes to a temporary folder, nothing into the repository.
        """
    ),
    setup(
        """
        import logging
        import tempfile
        import warnings

        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import torch

        from fairlit.cli import build_cli
        from fairlit.probes import encode_dataset, probe_representation
        from fairlit.sweep import pareto_front

        # A notebook runs in its own folder, so the configs are one level up.
        CONFIG = "../configs/adult.yaml"
        WORK_DIR = tempfile.mkdtemp(prefix="fairlit-quickstart-")

        # No progress bars, checkpoints or log files; what Lightning still writes (the
        # resolved config, the fairness report) goes to WORK_DIR.
        QUIET = [
            "--trainer.logger=false",
            "--trainer.enable_checkpointing=false",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={WORK_DIR}",
            "--test_after_fit=false",
        ]
        """
    ),
    md(
        """
        ## 1. Train

        `build_cli` builds the same objects as the command
        `fairlit fit --config ../configs/adult.yaml`: the model, the DataModule and the
        Trainer, with the data's shapes (number of features, of groups, of classes) passed
        to the model. It does not train; we call `trainer.fit` ourselves. Any option of the
        config can be changed with `--key=value`, as on the command line; here only the
        number of epochs.
        """
    ),
    code(
        """
        cli = build_cli(["--config", CONFIG, "--trainer.max_epochs=2", *QUIET])
        model, dm, trainer = cli.model, cli.datamodule, cli.trainer
        print(f"gamma = {model.gamma}, {dm.num_features} features, groups {dm.group_names}")
        trainer.fit(model, datamodule=dm)
        """
    ),
    md(
        """
        ## 2. Test metrics

        The config's `FairnessReport` callback printed one row per validation epoch above; it
        prints one row for the test split below. The columns:

        - **accuracy**: share of correct predictions, with P(y=1) thresholded at 0.5.
        - **AUC**: ROC AUC of P(y=1).
        - **ΔDP**: demographic parity *difference*: the largest minus the smallest rate of
          positive predictions over the groups (here women and men). 0 means both groups
          get positive predictions equally often.
        - **ΔEO**: equalized odds difference: the larger of the between-group gaps in
          true-positive rate and in false-positive rate.
        - **MI(fact)**: factorized mutual information between the neurons' firing
          probabilities and the group, in bits. This is the penalty the model minimizes:
          `loss = (1 - gamma) * task_loss + gamma * MI`.
        - **MI(plug)**: plug-in mutual information between the *sampled* 20-bit codes and the
          group, in bits. There are 2^20 possible codes and only some thousand rows, so most
          codes are seen once and this estimate is biased upwards (it cannot exceed the
          entropy of the group, about 0.9 bits here). Do not read it as the quantity being
          minimized.
        - **loss**: the training objective above, on this split.

        `trainer.test` also returns the values as a dict.
        """
    ),
    code(
        """
        [test_metrics] = trainer.test(model, datamodule=dm, verbose=False)
        pd.Series(test_metrics).round(4)
        """
    ),
    md(
        """
        ## 3. Firing rates per group

        Each binary neuron outputs 1 with a probability computed from the input.
        `encode_dataset(..., inference="probability")` returns these probabilities instead of
        a sampled code. If the code does not depend on the group, each neuron fires about
        equally often for women and for men, so the two bars of each neuron have about the
        same height. Neurons stuck near 0 or 1 carry almost no information.
        """
    ),
    code(
        """
        probs = encode_dataset(model, dm.test_dataset, inference="probability")  # [rows, 20]
        s = dm.test_dataset.s
        rates = torch.stack([probs[s == g].mean(0) for g in range(dm.num_groups)])  # [groups, 20]

        neurons = np.arange(probs.shape[1])
        width = 0.8 / dm.num_groups
        fig, ax = plt.subplots(figsize=(8, 3))
        for g, name in enumerate(dm.group_names):
            ax.bar(neurons + (g - (dm.num_groups - 1) / 2) * width, rates[g].numpy(), width, label=name)
        ax.set_xticks(neurons)
        ax.set_xlabel("binary neuron")
        ax.set_ylabel("mean firing probability")
        ax.set_ylim(0, 1)
        ax.set_title("test split")
        ax.legend(ncol=dm.num_groups, loc="upper right")
        plt.show()
        print(f"largest gap between the groups' firing rates: {float((rates[1] - rates[0]).abs().max()):.3f}")
        """
    ),
    md(
        """
        ## 4. Probe the code

        The test metrics describe the model's own head. A probe asks what *another*
        classifier could read from the code. We freeze the encoder, draw one binary sample
        per row (as the paper evaluates), fit three scikit-learn classifiers (logistic
        regression, random forest, gradient boosting) on training codes, and score them on
        test codes: once for predicting the target `y` (income), once for predicting the
        group `s` (sex).

        The goal is a high `y` AUC and an `s` AUC near 0.5 (chance). In Adult, income and
        sex are correlated, so a code that predicts income cannot be fully blind to sex; the
        `s` AUC shows how much of the group is left in the code. To keep this fast the
        probes are fitted on 5,000 training rows.
        """
    ),
    code(
        """
        rows = torch.randperm(len(dm.train_dataset), generator=torch.Generator().manual_seed(0))[:5000]
        train = dm.train_dataset[rows]  # a dict with "x", "y", "s"
        test = dm.test_dataset
        train_codes = encode_dataset(model, train["x"], seed=0)  # one Bernoulli sample per row
        test_codes = encode_dataset(model, test, seed=1)
        probe = probe_representation(train_codes, train["y"], train["s"], test_codes, test.y, test.s, seed=0)

        pd.DataFrame(
            {
                f"{target} AUC": {
                    name: probe[f"probe/{name}/{target}_auc"] for name in ("logreg", "forest", "boosting")
                }
                for target in ("y", "s")
            }
        ).round(3)
        """
    ),
    md(
        """
        ## 5. The accuracy-fairness trade-off

        `gamma` is the weight of the MI penalty. We train three models (`gamma` = 0, 0.5,
        0.9) with the same settings and compare their test accuracy and ΔDP.
        `--trainer.callbacks=null` turns off the per-epoch report for these runs.
        `pareto_front` keeps the points that no other point beats on both axes (lower or
        equal ΔDP and higher or equal accuracy).

        For a real sweep over many `gamma` values and seeds, with probes and baselines on the
        same splits, use `fairlit sweep` (`python -m fairlit sweep --help`).
        """
    ),
    code(
        """
        points = []
        for gamma in (0.0, 0.5, 0.9):
            run = build_cli(
                ["--config", CONFIG, "--trainer.max_epochs=2", f"--model.init_args.gamma={gamma}",
                 "--trainer.callbacks=null", *QUIET]
            )
            run.trainer.fit(run.model, datamodule=run.datamodule)
            [metrics] = run.trainer.test(run.model, datamodule=run.datamodule, verbose=False)
            points.append(
                {"gamma": gamma, "accuracy": metrics["test/accuracy"],
                 "dp_difference": metrics["test/dp_difference"],
                 "mi_factorized_bits": metrics["test/mi_factorized_bits"]}
            )
        points = pd.DataFrame(points)
        front = pareto_front(points)  # columns "dp_difference" (minimized) and "accuracy" (maximized)
        points.round(4)
        """
    ),
    code(
        """
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.scatter(points["dp_difference"], points["accuracy"])
        for point in points.itertuples():
            ax.annotate(f"gamma = {point.gamma:g}", (point.dp_difference, point.accuracy),
                        textcoords="offset points", xytext=(5, 5))
        ax.step(front["dp_difference"], front["accuracy"], where="post", color="C1", label="Pareto front")
        ax.set_xlabel("ΔDP on test (lower is fairer)")
        ax.set_ylabel("accuracy on test")
        ax.margins(0.15)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        plt.show()
        """
    ),
    md(
        """
        A larger `gamma` lowers the mutual information and ΔDP and costs some accuracy.
        After 2 epochs these points are noisy; train longer and average over seeds
        (`fairlit sweep`) before comparing methods.

        Next: `02_extending.ipynb` adds a regularizer, a dataset and a metric of your own.
        """
    ),
]


EXTENDING = [
    md(
        """
        # Extending fairlit: a regularizer, a dataset, a metric

        Every component is a class: you write one and pass it in, from Python or by its
        import path in a config. Nothing is registered anywhere. This notebook adds

        - (a) a regularizer, trained from Python and named from the command line,
        - (b) a dataset read from a CSV file,
        - (c) a fairness metric.

        It runs in about a minute on one CPU core and writes only to a temporary folder.
        """
    ),
    setup(
        """
        import logging
        import tempfile
        import warnings
        from pathlib import Path

        import pandas as pd
        import pytorch_lightning as pl
        import torch
        from torchmetrics import Metric, MetricCollection

        from fairlit.cli import build_cli
        from fairlit.data import AdultDataModule, CSVDataModule, load_german
        from fairlit.metrics import DemographicParityDifference, DemographicParityRatio
        from fairlit.metrics.functional import equalized_odds_difference, group_rate_statistics, rate_gap
        from fairlit.models import FairRepresentationModel
        from fairlit.nn import EncoderOutput, HybridBinaryEncoder
        from fairlit.regularizers import MutualInformationRegularizer, Regularizer

        WORK_DIR = Path(tempfile.mkdtemp(prefix="fairlit-extending-"))


        def make_trainer(max_epochs: int) -> pl.Trainer:
            \"\"\"A quiet CPU trainer that writes nothing into the repository.\"\"\"
            return pl.Trainer(
                max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
                enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, default_root_dir=WORK_DIR,
            )
        """
    ),
    md(
        """
        ## (a) A new regularizer

        A regularizer is an `nn.Module` whose first two init arguments are `in_features` (the
        width of the code) and `num_groups`, and whose `forward(output, s)` returns a scalar
        penalty. `output` is the encoder's `EncoderOutput`: `output.code` is the code the head
        sees (sampled 0/1 bits for SQNN, with a straight-through gradient) and
        `output.probs` the firing probabilities. Subclassing `fairlit.regularizers.Regularizer`
        stores and checks the two sizes.

        This one penalizes the squared distance between the groups' mean codes, summed over
        pairs of groups. A batch may hold a single group (small batches, rare groups): the
        mean of an empty selection would be NaN, so groups absent from the batch are skipped,
        and with fewer than two groups the penalty is a zero that stays connected to the
        graph (so `backward` still works).
        """
    ),
    code(
        """
        class GroupMeanGap(Regularizer):
            \"\"\"Squared distance between the groups' mean codes, summed over pairs of groups.\"\"\"

            def forward(self, output: EncoderOutput, s: torch.Tensor) -> torch.Tensor:
                present = [g for g in range(self.num_groups) if (s == g).any()]
                if len(present) < 2:
                    return output.code.sum() * 0.0
                means = torch.stack([output.code[s == g].mean(0) for g in present])  # [groups, width]
                gaps = (means[:, None, :] - means[None, :, :]).pow(2).sum(-1)  # [groups, groups]
                return gaps.triu(diagonal=1).sum()


        penalty = GroupMeanGap(in_features=3, num_groups=2)
        code = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
        out = EncoderOutput(code=code, probs=None)
        print("both groups:     ", penalty(out, torch.tensor([0, 0, 1, 1])))  # means (1, .5, 1) and (0, 0, .5)
        print("group 1 missing: ", penalty(out, torch.tensor([0, 0, 0, 0])))
        """
    ),
    md(
        """
        ### Train it from Python

        `FairRepresentationModel` takes the encoder as an object and the regularizer (and
        the head) as a *factory*: the class itself, which the model calls with
        `(encoder.out_features, num_groups)`. Without the CLI nothing links the data's
        shapes into the model, so pass `in_features=dm.num_features` and
        `num_groups=dm.num_groups` yourself.

        `straight_through="sigmoid"` is what the shipped configs use. The encoder's default,
        `"identity"` (the paper authors' estimator), lets the code collapse to about one
        useful bit with a linear head (README, "Straight-through estimator").

        We train `gamma = 0` (no penalty) and `gamma = 0.5` for 2 epochs on Adult and
        compare the test metrics.
        """
    ),
    code(
        """
        adult = AdultDataModule(sensitive="sex")
        rows = {}
        for gamma in (0.0, 0.5):
            pl.seed_everything(0, verbose=False)
            encoder = HybridBinaryEncoder(in_features=adult.num_features, out_features=20, straight_through="sigmoid")
            model = FairRepresentationModel(encoder, regularizer=GroupMeanGap, gamma=gamma,
                                            num_groups=adult.num_groups)
            trainer = make_trainer(max_epochs=2)
            trainer.fit(model, datamodule=adult)
            [metrics] = trainer.test(model, datamodule=adult, verbose=False)
            rows[f"gamma={gamma}"] = {k.removeprefix("test/"): v for k, v in metrics.items()}
        pd.DataFrame(rows).loc[["accuracy", "auc", "dp_difference", "eo_difference", "penalty", "mi_factorized_bits"]].round(4)
        """
    ),
    md(
        """
        The penalty lowers ΔDP and the mutual information at some cost in accuracy. ΔEO
        can go up: when the groups have different base rates, equal positive-prediction
        rates mean unequal error rates.
        """
    ),
    md(
        """
        ### Name it from the command line

        The CLI finds a class by its import path, so put the class in a module that Python
        can import, e.g. `my_project/penalties.py` next to an empty `my_project/__init__.py`,
        and run from the folder that contains `my_project`:

        ```bash
        python -m fairlit fit --config configs/adult.yaml \\
            --model.init_args.regularizer=my_project.penalties.GroupMeanGap
        ```

        `python -m` puts the current folder on the import path; the `fairlit` console script
        does not, so with it use `PYTHONPATH=. fairlit fit ...`. In a config file:

        ```yaml
        model:
          init_args:
            regularizer:
              class_path: my_project.penalties.GroupMeanGap
        ```

        Init arguments of the config's old regularizer that the new class does not take
        (here `estimator`) are dropped. In this notebook the class lives in the kernel's
        `__main__` module, so `__main__.GroupMeanGap` works with `build_cli` in the same
        process (not from a shell). `fast_dev_run` runs one training and one validation
        batch, enough to see that it is wired in.
        """
    ),
    code(
        """
        cli = build_cli(
            ["--config", "../configs/german.yaml",
             "--model.init_args.regularizer=__main__.GroupMeanGap",
             "--trainer.fast_dev_run=true", "--trainer.enable_progress_bar=false",
             "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={WORK_DIR}"]
        )
        print(cli.model.regularizer)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        """
    ),
    md(
        """
        ## (b) A new dataset from a CSV file

        `CSVDataModule` reads any table with a header row, a binary target and a categorical
        sensitive column. To have a file, we save a few columns of the German credit data,
        with the target written as text ("good" / "bad").
        """
    ),
    code(
        """
        german = load_german()
        table = german[["duration", "credit_amount", "age", "purpose", "housing", "sex", "credit"]].copy()
        table["credit"] = table["credit"].map({1: "good", 0: "bad"})
        csv_path = WORK_DIR / "credit.csv"
        table.to_csv(csv_path, index=False)
        table.head(3)
        """
    ),
    md(
        """
        `positive_label="good"` says which target value is 1. The sensitive column's sorted
        values become groups 0, 1, ... (`group_names`) and the column is left out of the
        features. Numeric columns are standardized with training statistics; text columns
        are one-hot encoded against the categories of the whole file, so `num_features` is
        known right after construction, before any split. Splits are stratified by `(y, s)`
        and seeded (`seed=0`): 20% test, then 10% of the rest for validation.

        A batch is a dict: `x` float32 `[B, num_features]`, `y` and `s` int64 `[B]`.
        """
    ),
    code(
        """
        credit = CSVDataModule(csv_path, target="credit", sensitive="sex", positive_label="good", batch_size=32)
        print("num_features:", credit.num_features)
        print("features:    ", credit.feature_names)
        print("groups:      ", credit.group_names)
        credit.setup("fit")
        batch = next(iter(credit.train_dataloader()))
        {key: (tuple(value.shape), value.dtype) for key, value in batch.items()}
        """
    ),
    md(
        """
        Train SQNN on it: the paper's factorized MI regularizer, passed as a class like
        `GroupMeanGap` above. The table is small (700 training rows), so 30 epochs take a few
        seconds.
        """
    ),
    code(
        """
        pl.seed_everything(0, verbose=False)
        encoder = HybridBinaryEncoder(in_features=credit.num_features, out_features=20, straight_through="sigmoid")
        credit_model = FairRepresentationModel(encoder, regularizer=MutualInformationRegularizer, gamma=0.3,
                                               num_groups=credit.num_groups)
        trainer = make_trainer(max_epochs=30)
        trainer.fit(credit_model, datamodule=credit)
        [metrics] = trainer.test(credit_model, datamodule=credit, verbose=False)
        pd.Series(metrics).round(4)
        """
    ),
    md(
        """
        The same file from the command line: replace the config's `data` with
        `--data=fairlit.data.CSVDataModule` and give its arguments. Arguments with the same
        name in the config's old DataModule (`sensitive`, `batch_size`, `seed`, ...) carry
        over, so set `sensitive` explicitly. The CLI passes `num_features` and `num_groups`
        to the model itself.
        """
    ),
    code(
        """
        cli = build_cli(
            ["--config", "../configs/german.yaml", "--data=fairlit.data.CSVDataModule",
             f"--data.init_args.path={csv_path}", "--data.init_args.target=credit",
             "--data.init_args.sensitive=sex", "--data.init_args.positive_label=good",
             "--trainer.logger=false", f"--trainer.default_root_dir={WORK_DIR}"]
        )
        print(type(cli.datamodule).__name__, "with", cli.datamodule.num_features, "features;",
              "encoder in_features =", cli.model.encoder.in_features)
        """
    ),
    md(
        """
        ## (c) A new metric

        fairlit's metrics are torchmetrics `Metric`s with the signature
        `update(preds, target, groups)`, where `preds` is P(y=1). Using one that exists takes
        two lines; below, the demographic parity *ratio* (lowest over highest positive rate;
        1 is parity) next to the *difference* that the model logs.

        A new one is a small class: keep per-group counts as states summed across processes
        (`dist_reduce_fx="sum"`, so it is exact under DDP), fill them with
        `fairlit.metrics.functional.group_rate_statistics`, and compute the value from the
        counts. Here the equal opportunity difference: the gap in true-positive rate between
        groups, with predictions thresholded at 0.5.
        """
    ),
    code(
        """
        class EqualOpportunityDifference(Metric):
            \"\"\"Largest minus smallest true-positive rate over groups (hard predictions).\"\"\"

            full_state_update = False
            higher_is_better = False

            def __init__(self, num_groups: int = 2, threshold: float = 0.5, **kwargs) -> None:
                super().__init__(**kwargs)
                self.num_groups, self.threshold = num_groups, threshold
                for name in ("target_positive", "true_positive"):
                    self.add_state(name, torch.zeros(num_groups, dtype=torch.float64), dist_reduce_fx="sum")

            def update(self, preds: torch.Tensor, target: torch.Tensor, groups: torch.Tensor) -> None:
                stats = group_rate_statistics(preds, target, groups, self.num_groups, self.threshold)
                self.target_positive += stats.target_positive
                self.true_positive += stats.true_positive

            def compute(self) -> torch.Tensor:
                return rate_gap(self.true_positive, self.target_positive).float()
        """
    ),
    md(
        """
        Update the metrics over the test split of the CSV dataset with the model trained in
        (b). The encoder samples its code at evaluation, so we seed the sampling; the ΔDP
        here can differ a little from `trainer.test`'s, which drew other samples. The last
        line checks the new metric against the functional version of the TPR gap.
        """
    ),
    code(
        """
        metrics = MetricCollection(
            {
                "dp_difference": DemographicParityDifference(num_groups=credit.num_groups),
                "dp_ratio": DemographicParityRatio(num_groups=credit.num_groups),
                "eop_difference": EqualOpportunityDifference(num_groups=credit.num_groups),
            }
        )
        credit.setup("test")
        credit_model.eval()
        torch.manual_seed(0)
        all_preds, all_y, all_s = [], [], []
        with torch.no_grad():
            for batch in credit.test_dataloader():
                _, logits = credit_model(batch["x"])
                preds = credit_model.predict_proba(logits)
                metrics.update(preds, batch["y"], groups=batch["s"])
                all_preds.append(preds)
                all_y.append(batch["y"])
                all_s.append(batch["s"])
        values = {name: float(value) for name, value in metrics.compute().items()}
        print(values)
        reference = equalized_odds_difference(torch.cat(all_preds), torch.cat(all_y), torch.cat(all_s),
                                              num_groups=credit.num_groups, component="tpr")
        assert abs(values["eop_difference"] - float(reference)) < 1e-6
        """
    ),
    md(
        """
        To log such a metric during training, add it to the model's metric collections in a
        subclass of `FairRepresentationModel`, or compute it after training as above.
        The README's "Extend" section lists the contract of each component (encoder,
        dataset, regularizer, metric).
        """
    ),
]


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook of ``cells`` with stable ids, no outputs and a Python 3 kernel."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, (kind, source) in enumerate(cells):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
        cell["id"] = f"cell-{index:02d}"
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def write(name: str, cells: list[tuple[str, str]]) -> Path:
    """Write ``cells`` to ``notebooks/<name>`` and return the path."""
    path = HERE / name
    nbformat.write(build(cells), path)
    return path


def main() -> None:
    """Regenerate both notebooks."""
    for name, cells in (("01_quickstart.ipynb", QUICKSTART), ("02_extending.ipynb", EXTENDING)):
        print(f"wrote {write(name, cells)}")


if __name__ == "__main__":
    main()
