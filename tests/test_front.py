"""FrontModel: K members trained as one vmapped computation are K independent models."""

import copy

import pytest
import pytorch_lightning as pl
import torch

from fairlit.callbacks import FairnessReport
from fairlit.cli import main
from fairlit.data import GermanDataModule
from fairlit.errors import ConfigurationError
from fairlit.front import FrontModel
from fairlit.models import FairRepresentationModel
from fairlit.nn import FullPrecisionEncoder, HybridBinaryEncoder
from fairlit.regularizers import AdversarialRegularizer, MutualInformationRegularizer

GAMMAS = [0.0, 0.4, 0.9]

# Tolerances. The front (vmap over stacked members) and K separate models compute the same
# sums in different orders, so their last bits may differ, and which bits differ depends on
# the CPU's vector kernel (ATEN_CPU_CAPABILITY). In float32 four Adam steps were seen to move
# a weight apart by 1.2e-6 on one kernel and by less on another, so every comparison of two
# computations here runs in float64 (unit roundoff u = 1.1e-16). A handful of steps, each a
# forward and backward pass through two layers of width <= 64 on <= 64 rows, puts the two
# orders at most a few thousand u apart (about 1e-13 relative), and a stochastic bit u < p
# flips between them only for a uniform draw within that distance of p (probability about
# 1e-13 per bit): TOL leaves a margin of 1000 over that and is still 1e6 times smaller than a
# real error (a wrong gamma, noise row or seed moves a weight by about lr = 1e-2).
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _double(batch):
    """The batch with float64 features (and weights), as Lightning's 64-true precision does."""
    return {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}


def _reference(make_encoder, gamma, seed, regularizer, **kwargs):
    """Member ``seed`` as an ordinary model: built after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return FairRepresentationModel(make_encoder(), regularizer=regularizer, gamma=gamma, **kwargs)


@pytest.mark.comparison
def test_members_train_exactly_like_independent_models():
    # A deterministic encoder, and an adversary with weights of its own: every member's
    # gradient and Adam update must be those of the same model trained alone.
    dm = GermanDataModule(batch_size=64)
    dm.setup("fit")

    def make():
        return FullPrecisionEncoder(dm.num_features, hidden_features=(16,), out_features=8)

    front = FrontModel(make(), GAMMAS, regularizer=AdversarialRegularizer, seeds=[3, 4, 5])
    models = [
        _reference(make, g, s, AdversarialRegularizer)
        for g, s in zip(GAMMAS, [3, 4, 5], strict=True)
    ]
    front.double()
    models = [m.double() for m in models]
    # Member k starts from the weights of the model built after torch.manual_seed(seeds[k]).
    for k, member in enumerate(front.members()):
        for name, value in models[k].state_dict().items():
            assert torch.equal(member.state_dict()[name], value), name
    front_opt = torch.optim.Adam(front.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in models]
    batches = iter(dm.train_dataloader())
    for _ in range(3):
        batch = _double(next(batches))
        front_opt.zero_grad()
        losses, _, _ = front.member_losses(batch)
        losses.sum().backward()
        front_opt.step()
        for model, opt, loss in zip(models, opts, losses, strict=True):
            opt.zero_grad()
            expected = model.loss_terms(batch)["loss"]
            torch.testing.assert_close(loss.detach(), expected.detach(), **TOL)
            expected.backward()
            opt.step()
    for k, member in enumerate(front.members()):
        for name, value in models[k].state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], value, **TOL)
    # The members did move apart: different gammas and seeds, different weights.
    first, last = front.members()[0], front.members()[2]
    assert not torch.allclose(first.head.output.weight, last.head.output.weight)


def _stochastic(dm, sampling="sample"):
    return HybridBinaryEncoder(
        dm.num_features, 10, hidden_features=(16,), straight_through="sigmoid", inference=sampling
    )


@pytest.mark.comparison
def test_with_explicit_noise_members_equal_separate_fits_in_weights_and_metrics(tiny_trainer):
    # Each member gets its own noise [K, B, m]; the ordinary model gets the same rows.
    dm = GermanDataModule(batch_size=64)
    dm.setup("fit")
    gammas, seeds = [0.2, 0.8], [3, 4]
    front = FrontModel(_stochastic(dm), gammas, regularizer=MutualInformationRegularizer,
                       seeds=seeds)  # fmt: skip
    models = [_reference(lambda: _stochastic(dm), g, s, MutualInformationRegularizer).double()
              for g, s in zip(gammas, seeds, strict=True)]  # fmt: skip
    front.double()
    front_opt = torch.optim.Adam(front.parameters(), lr=1e-2)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in models]
    draws = torch.Generator().manual_seed(11)
    batches = iter(dm.train_dataloader())
    for _ in range(4):
        batch = _double(next(batches))
        noise = torch.rand(2, len(batch["x"]), 10, generator=draws, dtype=torch.float64)
        front_opt.zero_grad()
        losses, _, _ = front.member_losses(batch, noise)
        losses.sum().backward()
        front_opt.step()
        for k, (model, opt) in enumerate(zip(models, opts, strict=True)):
            opt.zero_grad()
            expected = model.loss_terms(batch, noise[k])["loss"]
            torch.testing.assert_close(losses[k].detach(), expected.detach(), **TOL)
            expected.backward()
            opt.step()
    for k, member in enumerate(front.members()):
        for name, value in models[k].state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], value, **TOL)
    # Sampled evaluation codes: each member evaluates from its own copy of the stream.
    [result] = tiny_trainer(precision="64-true").test(front, datamodule=dm, verbose=False)
    for k, model in enumerate(models):
        [own] = tiny_trainer(precision="64-true").test(model, datamodule=dm, verbose=False)
        for name in ("accuracy", "auc", "dp_difference", "eo_difference", "mi_bits"):
            assert result[f"test/m{k}/{name}"] == pytest.approx(own[f"test/{name}"], abs=1e-9)


@pytest.mark.comparison
def test_a_front_trained_by_the_trainer_equals_separate_fits(tiny_trainer):
    # The front draws the step's noise where an ordinary model's torch.bernoulli would, from
    # the same seeded stream: member k is the ordinary run with gamma k (CPU, no dropout).
    dm = GermanDataModule(batch_size=50)
    gammas, seeds = [0.0, 0.6], [5, 5]
    kwargs = {"prediction_samples": 3}
    front = FrontModel(_stochastic(dm), gammas, regularizer=MutualInformationRegularizer,
                       seeds=seeds, **kwargs)  # fmt: skip
    trainer = tiny_trainer(max_steps=6, precision="64-true")
    trainer.fit(front, datamodule=dm)
    [result] = trainer.test(front, datamodule=dm, verbose=False)
    for k, (gamma, seed) in enumerate(zip(gammas, seeds, strict=True)):
        model = _reference(lambda: _stochastic(dm), gamma, seed, MutualInformationRegularizer,
                           **kwargs)  # fmt: skip
        alone = tiny_trainer(max_steps=6, precision="64-true")
        alone.fit(model, datamodule=dm)
        [own] = alone.test(model, datamodule=dm, verbose=False)
        member = front.members()[k]
        for name, value in model.state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], value, **TOL)
        for name in ("accuracy", "auc", "dp_difference", "mi_factorized_bits"):
            assert result[f"test/m{k}/{name}"] == pytest.approx(own[f"test/{name}"], abs=1e-9)
    # Different gammas from the same start: the members did move apart.
    first, second = front.members()
    assert not torch.allclose(first.head.output.weight, second.head.output.weight)


def test_from_model_starts_every_member_from_the_model(tiny_trainer):
    dm = GermanDataModule(batch_size=50)
    torch.manual_seed(2)
    model = FairRepresentationModel(_stochastic(dm), regularizer=MutualInformationRegularizer,
                                    threshold=0.6, sampling_seed=7)  # fmt: skip
    front = FrontModel.from_model(model, [0.1, 0.9])
    assert front.gammas == [0.1, 0.9] and front.sampling_seed == 7
    for member in front.members():
        assert member.threshold == 0.6
        for name, value in model.state_dict().items():
            assert torch.equal(member.state_dict()[name], value), name
    tiny_trainer(max_steps=2).fit(front, datamodule=dm)
    assert model.gamma == 0.5  # the model itself is left alone
    with pytest.raises(ValueError, match="gamma"):
        FrontModel.from_model(model, [0.5, 1.5])


@pytest.mark.comparison
def test_a_step_schedule_is_every_members_own_and_a_metric_driven_one_is_refused(tiny_trainer):
    from fairlit.optim import InverseTimeDecay

    dm = GermanDataModule(batch_size=50)

    def decay(optimizer):
        return InverseTimeDecay(optimizer, decay_steps=2)

    torch.manual_seed(1)
    model = FairRepresentationModel(_stochastic(dm), regularizer=MutualInformationRegularizer,
                                    gamma=0.3, lr_scheduler=decay)  # fmt: skip
    front = FrontModel.from_model(model, [0.3, 0.3])
    tiny_trainer(max_steps=5, precision="64-true").fit(front, datamodule=dm)
    tiny_trainer(max_steps=5, precision="64-true").fit(model, datamodule=dm)
    for member in front.members():  # the schedule ran, and each member is the model's run
        for name, value in model.state_dict().items():
            torch.testing.assert_close(member.state_dict()[name], value, **TOL)
    assert front.lr_schedulers().get_last_lr() == model.lr_schedulers().get_last_lr()
    assert model.lr_schedulers().get_last_lr()[0] < 1e-3  # it decayed
    plateau = FairRepresentationModel(
        _stochastic(dm), lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau
    )
    with pytest.raises(ConfigurationError, match="ReduceLROnPlateau"):
        FrontModel.from_model(plateau, [0.5])  # refused at once, before any Trainer starts


@pytest.mark.parametrize(
    ("option", "key"),
    [("--model.init_args.lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau",
      "model.init_args.lr_scheduler"),
     ("--trainer.gradient_clip_val=1.0", "trainer.gradient_clip_val")],
)  # fmt: skip
def test_the_command_line_refuses_couplings_before_the_trainer_starts(
    capsys, quiet_args, option, key
):
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "configs"
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", str(configs / "german.yaml"), "--config",
              str(configs / "model" / "front.yaml"), option, *quiet_args])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) <= 3, err
    assert not any("GPU available" in line for line in err)  # before the Trainer's start-up
    [message] = [line for line in err if line.startswith("fairlit fit: error:")]
    assert key in message


def test_a_stochastic_front_trains_evaluates_per_member_and_exports(tmp_path, capsys, float64):
    # float64 throughout (the default dtype and 64-true): the front's vmapped evaluation, the
    # exported member alone and the command line (one test batch of 2048 rows, not 100) sum
    # in different orders, and a thresholded bit must not flip between them (see TOL).
    dm = GermanDataModule(batch_size=100)
    encoder = HybridBinaryEncoder(
        dm.num_features,
        20,
        hidden_features=(64,),
        straight_through="sigmoid",
        inference="threshold",
    )
    front = FrontModel(encoder, [0.0, 0.5], regularizer=MutualInformationRegularizer)
    trainer = pl.Trainer(
        max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[FairnessReport(filename=None)],
        default_root_dir=tmp_path, precision="64-true",
    )  # fmt: skip
    trainer.fit(front, datamodule=dm)
    [result] = trainer.test(front, datamodule=dm, verbose=False)
    for k in (0, 1):
        assert 0.5 < result[f"test/m{k}/accuracy"] <= 1.0
        assert f"test/m{k}/mi_factorized_bits" in result
    printed = capsys.readouterr().out
    assert "test:m0" in printed and "test:m1" in printed  # a report row per member
    # Member 1 exported as an ordinary checkpoint gives the same test numbers on its own
    # (thresholded codes: the evaluation is deterministic).
    path = front.export_member(1, tmp_path / "member1.ckpt", datamodule=dm)
    loaded = FairRepresentationModel.load_from_checkpoint(
        path, encoder=copy.deepcopy(encoder), regularizer=MutualInformationRegularizer,
        weights_only=False,
    )  # fmt: skip
    assert loaded.gamma == 0.5
    assert loaded.head.output.weight.dtype == torch.float64  # nothing rounded on the way
    alone = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                       precision="64-true")  # fmt: skip
    [own] = alone.test(loaded, datamodule=dm, verbose=False)
    for name in ("accuracy", "auc", "dp_difference", "eo_difference"):
        assert own[f"test/{name}"] == pytest.approx(result[f"test/m1/{name}"], abs=1e-9)
    # ... and through the command line, with a config of the member's architecture.
    from pathlib import Path

    import pandas as pd

    config = Path(__file__).resolve().parents[1] / "configs" / "german.yaml"
    main(["test", "--config", str(config), f"--ckpt_path={path}",
          "--model.init_args.encoder.init_args.inference=threshold",
          "--trainer.enable_progress_bar=false", "--trainer.precision=64-true"])  # fmt: skip
    [metrics] = tmp_path.glob("lightning_logs/german/version_*/metrics.csv")
    row = pd.read_csv(metrics).dropna(subset=["test/accuracy"]).iloc[-1]
    assert row["test/accuracy"] == pytest.approx(own["test/accuracy"], abs=1e-9)
    assert row["test/dp_difference"] == pytest.approx(own["test/dp_difference"], abs=1e-9)


def test_what_would_couple_members_is_refused(tiny_trainer):
    encoder = HybridBinaryEncoder(8, 6)
    with pytest.raises(ConfigurationError, match="joint MI"):
        FrontModel(encoder, [0.1, 0.2], regularizer=lambda w, g: MutualInformationRegularizer(
            w, g, estimator="joint"))  # fmt: skip
    with pytest.raises(ValueError, match="at least one"):
        FrontModel(encoder, [])
    with pytest.raises(ValueError, match="one per gamma"):
        FrontModel(encoder, [0.1, 0.2], seeds=[1])
    dm = GermanDataModule()
    front = FrontModel(HybridBinaryEncoder(dm.num_features, 6), [0.1, 0.2])
    with pytest.raises(ConfigurationError, match="gradient_clip_val"):
        tiny_trainer(gradient_clip_val=1.0).fit(front, datamodule=dm)


def test_the_readme_front_example_runs(tmp_path):
    """The README's "A front in one run" block, with one epoch instead of twenty."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### A front in one run") :]
    [code] = re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)[:1]
    assert "max_epochs=20" in code
    namespace: dict = {}
    exec(code.replace("max_epochs=20", "max_epochs=1"), namespace)
    assert (tmp_path / "member_gamma_0.5.ckpt").is_file()
    assert namespace["front"].gammas == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_a_front_from_the_command_line_reports_each_member_and_refuses_predict(
    tmp_path, capsys, quiet_args
):
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "configs"
    main(["fit", "--config", str(configs / "german.yaml"), "--config",
          str(configs / "model" / "front.yaml"), "--trainer.max_epochs=1", *quiet_args])  # fmt: skip
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("test:m")]
    assert len(rows) == 11 and rows[-1].startswith("test:m10")
    [header] = [line for line in out.splitlines() if line.startswith("stage")][-1:]
    for row in rows:  # the columns line up under the header, "test:m10" included
        accuracy = row.split()[2]
        end = row.index(accuracy, len(row.split()[0]) + 7) + len(accuracy)
        assert end == header.index("accuracy") + len("accuracy"), (header, row)
    assert "test/m0/accuracy" not in out  # Lightning's long table is off for a front
    [ckpt] = tmp_path.glob("lightning_logs/german/version_0/checkpoints/*.ckpt")
    run = ckpt.parents[1]
    with pytest.raises(SystemExit) as info:
        main(["predict", "--config", str(run / "config.yaml"), f"--ckpt_path={ckpt}", *quiet_args])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and "export_member" in err[0] and len(err) <= 3


# -- data parallelism ------------------------------------------------------------------------------


def _front_for_ranks(width: int) -> FrontModel:
    encoder = HybridBinaryEncoder(width, 8, hidden_features=(12,), straight_through="sigmoid")
    return FrontModel(encoder, [0.0, 0.5, 1.0], regularizer=MutualInformationRegularizer,
                      seeds=[1, 2, 3])  # fmt: skip


def _front_step(rank, world_size, batch, noise):
    """One rank's share of a step: its rows, its noise, DDP's gradient average."""
    import torch.distributed as dist

    front = _front_for_ranks(batch["x"].shape[1]).double()
    rows = slice(rank * len(noise) // world_size, (rank + 1) * len(noise) // world_size)
    losses, task, penalty = front.member_losses({k: v[rows] for k, v in batch.items()}, noise[rows])
    losses.sum().backward()
    grads = []
    for p in front.parameters():
        dist.all_reduce(p.grad)
        grads.append(p.grad / world_size)
    return task.detach(), penalty.detach(), grads


@pytest.mark.comparison
@pytest.mark.ddp
def test_two_gloo_processes_give_every_member_the_single_process_step(gloo_ranks):
    # The MI regularizer sums each member's group statistics over the processes from inside
    # vmap (one collective for the stacked members): the penalty is the global batch's, and
    # the averaged gradients are the single-process gradients of every member.
    dm = GermanDataModule(batch_size=80)
    dm.setup("fit")
    # float64 (see TOL): two shards' group counts summed by all_reduce against one pass.
    batch = _double(next(iter(dm.train_dataloader())))
    noise = torch.rand(80, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ranks = gloo_ranks(_front_step, batch, noise)
    front = _front_for_ranks(dm.num_features).double()
    losses, task, penalty = front.member_losses(batch, noise)
    losses.sum().backward()
    for _, rank_penalty, grads in ranks:
        torch.testing.assert_close(rank_penalty, penalty.detach(), **TOL)
        for grad, p in zip(grads, front.parameters(), strict=True):
            torch.testing.assert_close(grad, p.grad, **TOL)
    # The task loss is each rank's own mean; their average is the global mean.
    torch.testing.assert_close((ranks[0][0] + ranks[1][0]) / 2, task.detach())
    assert penalty[1] > 0  # a real penalty, not a trivially equal zero


@pytest.mark.ddp
def test_a_front_fits_under_ddp_spawn_and_tests_like_one_process(tmp_path, clean_spawn_exit):
    # In float64 (64-true): the members, kept outside the module tree, follow the front's dtype.
    dm = GermanDataModule(batch_size=32, eval_batch_size=50, test_fraction=0.301)
    common = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False,
              "accelerator": "cpu", "default_root_dir": tmp_path, "precision": "64-true"}  # fmt: skip

    def front():
        torch.manual_seed(0)
        encoder = HybridBinaryEncoder(dm.num_features, 10, straight_through="sigmoid",
                                      inference="threshold")  # fmt: skip
        return FrontModel(encoder, [0.0, 0.7], regularizer=MutualInformationRegularizer)

    spawn = pl.Trainer(devices=2, strategy="ddp_spawn", max_steps=4,
                       callbacks=[clean_spawn_exit], **common)  # fmt: skip
    spawn.fit(front(), datamodule=dm)
    ckpt = spawn.checkpoint_callback.best_model_path
    assert torch.load(ckpt, weights_only=False)["global_step"] == 4
    multi = pl.Trainer(devices=2, strategy="ddp_spawn", callbacks=[clean_spawn_exit], **common)
    [two] = multi.test(front(), datamodule=dm, ckpt_path=ckpt, verbose=False)
    single = pl.Trainer(devices=1, enable_checkpointing=False, **common)
    [one] = single.test(front(), datamodule=dm, ckpt_path=ckpt, verbose=False)
    for k in (0, 1):
        for name in ("accuracy", "auc", "dp_difference", "eo_difference", "mi_bits",
                     "mi_factorized_bits"):  # fmt: skip
            key = f"test/m{k}/{name}"
            assert two[key] == pytest.approx(one[key], abs=1e-9), key


@pytest.mark.comparison
def test_sample_weights_reach_every_members_loss_and_seeds_follow_the_global_seed():
    torch.manual_seed(7)
    encoder = HybridBinaryEncoder(5, 6, hidden_features=(8,))
    front = FrontModel(encoder, [0.3, 0.8], regularizer=MutualInformationRegularizer)
    assert front.seeds == [7, 8]  # after seed_everything(7): 7, 8, ...
    gen = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(20, 5, generator=gen), "y": torch.randint(0, 2, (20,), generator=gen),
             "s": torch.randint(0, 2, (20,), generator=gen),
             "w": torch.rand(20, generator=gen) + 0.1}  # fmt: skip
    noise = torch.rand(20, 6, generator=gen)
    losses, _, _ = front.member_losses(batch, noise)
    unweighted = {key: value for key, value in batch.items() if key != "w"}
    for k, member in enumerate(front.members()):
        torch.testing.assert_close(losses[k], member.loss_terms(batch, noise)["loss"])
        assert not torch.allclose(losses[k], member.loss_terms(unweighted, noise)["loss"])
