import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fairlit
from fairlit.cli import build_cli, main
from fairlit.models import FairRepresentationModel

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DATASETS = sorted(str(p) for p in CONFIGS.glob("*.yaml"))
VARIANTS = sorted(str(p) for p in (CONFIGS / "model").glob("*.yaml"))
EXTRA_ARGS = {
    "biased_mnist": [
        f"--data.init_args.root={Path(__file__).parent / 'fake_mnist'}",
        "--data.init_args.val_fraction=0.25",
    ]
}
VARIANT_BASE = {"conv_full_precision": "biased_digits.yaml"}
# configs/csv.yaml is a starting point for the user's own table: a small one stands in.
CREDIT_CSV = Path(__file__).parent / "fake_raw" / "credit.csv"
EXTRA_ARGS["csv"] = [
    f"--data.init_args.path={CREDIT_CSV}",
    "--data.init_args.target=credit",
    "--data.init_args.sensitive=sex",
]


@pytest.fixture
def quiet_args(quiet_args):
    """The shared quiet options, and this file's own."""
    return [*quiet_args, "--trainer.check_val_every_n_epoch=1"]


def test_every_config_is_tested():
    assert {Path(p).stem for p in VARIANTS} == {*TABULAR_MODELS, "conv_full_precision"}
    assert {Path(p).stem for p in DATASETS} == {
        "adult",
        "biased_digits",
        "biased_mnist",
        "compas",
        "csv",
        "german",
    }
    assert {Path(p).stem for p in VARIANTS} == {
        "adversarial",
        "conv_full_precision",
        "front",
        "full_precision",
        "joint",
        "mmd",
        "quantized",
        "sqnn",
    }


# The overlays in configs/model/ per kind of data; "sqnn" is the tabular configs' own model
# (configs/model/sqnn.yaml, named inside them), the image configs carry a conv SQNN.
TABULAR_MODELS = ("sqnn", "adversarial", "front", "full_precision", "joint", "mmd", "quantized")
COMBINATIONS = [
    *((d, m) for d in ("adult", "compas", "german") for m in TABULAR_MODELS),
    ("csv", None),
    ("biased_digits", None),
    ("biased_digits", "conv_full_precision"),  # its image_shape is the 8x8 digits'
    ("biased_mnist", None),
]


@pytest.mark.parametrize(("dataset", "variant"), COMBINATIONS, ids=lambda v: v)
def test_every_model_runs_on_every_dataset(dataset, variant, tmp_path, monkeypatch, quiet_args):
    monkeypatch.chdir(tmp_path)
    extra = EXTRA_ARGS.get(dataset, [])
    config = str(CONFIGS / f"{dataset}.yaml")
    overlay = (
        []
        if variant in (None, "sqnn")
        else ["--config", str(CONFIGS / "model" / f"{variant}.yaml")]
    )
    main(
        [
            "fit",
            "--config",
            config,
            *overlay,
            *extra,
            "--trainer.fast_dev_run=true",
            *quiet_args,
        ]
    )


def test_ddp_trainer_config_parses():
    cli = build_cli(
        [
            "--config",
            str(CONFIGS / "german.yaml"),
            "--config",
            str(CONFIGS / "trainer" / "ddp.yaml"),
            "--trainer.accelerator=cpu",
            "--trainer.devices=1",
        ]
    )
    assert type(cli.trainer.strategy).__name__ == "DDPStrategy"


def test_build_cli_links_shapes_from_the_data():
    cli = build_cli(["--config", str(CONFIGS / "compas.yaml")])
    assert cli.model.encoder.in_features == cli.datamodule.num_features == 13
    assert cli.model.num_groups == 2 and cli.model.num_classes == 2
    assert cli.model.head.in_features == cli.model.encoder.out_features


def test_module_help_and_version():
    out = subprocess.run(
        [sys.executable, "-m", "fairlit", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"fairlit {fairlit.__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "fairlit", "--help"], capture_output=True, text=True, check=True
    )
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")}
    assert {"fit", "validate", "test", "predict", "sweep"} <= listed
    sweep_line = next(line for line in out.stdout.splitlines() if line.startswith("  sweep"))
    assert sweep_line.rstrip().endswith(".")  # one line, ending with a full sentence
    # Subcommand help still comes from LightningCLI.
    out = subprocess.run(
        [sys.executable, "-m", "fairlit", "fit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--trainer" in out.stdout


def test_fit_then_load_from_checkpoint_predicts_identically(
    tmp_path, monkeypatch, capsys, quiet_args
):
    monkeypatch.chdir(tmp_path)
    main(["fit", "--config", str(CONFIGS / "german.yaml"), "--trainer.max_epochs=1", *quiet_args])
    out = capsys.readouterr().out
    assert "fairlit: checkpoint:" in out and "fairlit: logs:" in out
    [ckpt] = list(tmp_path.glob("lightning_logs/german/version_0/checkpoints/*.ckpt"))
    cli = build_cli(["--config", str(CONFIGS / "german.yaml")])
    cli.datamodule.setup("test")
    x = cli.datamodule.test_dataset.x
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    cli.model.load_state_dict(state)
    loaded = FairRepresentationModel.load_from_checkpoint(ckpt)
    for model in (cli.model, loaded):
        model.eval()
        model.encoder.binary.inference = "threshold"
    with torch.no_grad():
        (_, a), (_, b) = cli.model(x), loaded(x)
    assert torch.equal(a, b)
    assert type(loaded.regularizer).__name__ == "MutualInformationRegularizer"


EMPTY_CSV = Path(__file__).parent / "fake_raw" / "empty.csv"


def _error_lines(capsys, *args: str) -> list[str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIGS / "german.yaml"), *args])
    data_error = any(a.endswith(("missing.csv", "empty.csv")) for a in args)
    assert exit_info.value.code == (1 if data_error else 2)  # 1: the data, 2: the command
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and line != "Seed set to 0"]
    assert len(lines) <= 2, err  # the error and where to read more
    assert "FAIRLIT_DEBUG=1" in lines[-1]
    return lines


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--model.init_args.gama=0.9"],
            "unknown option 'gama' of FairRepresentationModel; did you mean 'gamma'?",
        ),
        (
            ["--model.init_args.regularizer=fairlit.regularizers.MutualInformationRegulariser"],
            "did you mean 'MutualInformationRegularizer'?",
        ),
        (
            ["--trainer.max_epoch=1"],
            "unrecognized arguments: --trainer.max_epoch=1; did you mean --trainer.max_epochs?",
        ),
        (["--data.init_args.val_fraction=2"], "val_fraction must be in [0, 1), got 2.0"),
        (["--model.init_args.gamma=1.5"], "1.5 does not conform to restriction v>=0 and v<=1"),
        (
            [
                "--data=fairlit.data.CSVDataModule",
                "--data.init_args.path=missing.csv",
                "--data.init_args.target=a",
                "--data.init_args.sensitive=b",
            ],
            "CSV file 'missing.csv' does not exist",
        ),
        (
            [
                "--data=fairlit.data.CSVDataModule",
                f"--data.init_args.path={EMPTY_CSV}",
                "--data.init_args.target=a",
                "--data.init_args.sensitive=b",
            ],
            "the file is empty; expected a header row and data rows",
        ),
        (
            [
                "--config",
                str(CONFIGS / "model" / "joint.yaml"),
                "--model.init_args.encoder.init_args.out_features=21",
            ],
            "in_features=21 exceeds max_bits=20",
        ),
    ],
    ids=[
        "option-typo",
        "class-typo",
        "abbreviation",
        "bad-value",
        "restriction",
        "missing-file",
        "empty-file",
        "joint-too-wide",
    ],
)
def test_configuration_errors_are_short(capsys, args, expected):
    [error, _] = _error_lines(capsys, *args)
    assert error.startswith("fairlit fit: error: ")
    assert expected in error


def test_a_yaml_typo_names_its_file(capsys, tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  init_args:\n    gama: 0.3\n")
    [error, _] = _error_lines(capsys, "--config", str(typo))
    assert f"{typo}: model: unknown option 'gama'" in error


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("FAIRLIT_DEBUG", "1")
    with pytest.raises((ValueError, SystemExit)) as info:
        main(["fit", "--config", str(CONFIGS / "german.yaml"), "--data.init_args.val_fraction=2"])
    assert "val_fraction" in str(info.value)


def test_model_help_lists_fairlit_components_only(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--model.help", "FairRepresentationModel"])
    text = capsys.readouterr().out
    assert "fairlit.nn.TaskHead" in text and "fairlit.nn.HybridBinaryEncoder" in text
    assert "torch.nn.Identity" not in text  # heads and encoders are fairlit's bases, not nn.Module
    assert len(text.splitlines()) < 250


def test_predict_writes_predictions_that_match_the_test_metrics(tmp_path, capsys, quiet_args):
    import shlex

    import pandas as pd

    german = str(CONFIGS / "german.yaml")
    main(["fit", "--config", german, "--trainer.max_epochs=2", *quiet_args])
    printed = capsys.readouterr().out
    [predict] = [line for line in printed.splitlines() if "predict with:" in line]
    command = shlex.split(predict.split("predict with:", 1)[1])
    assert command[:2] == ["fairlit", "predict"] and "<" not in predict  # pasteable
    # It names the run's own resolved config.yaml, which holds every option of the run.
    assert command[command.index("--config") + 1].endswith("version_0/config.yaml")
    main([*command[1:], *quiet_args])
    out = capsys.readouterr().out.splitlines()
    [line] = [text for text in out if "fairlit: predictions:" in text]
    frame = pd.read_csv(line.split("fairlit: predictions:", 1)[1].strip())
    ckpt = command[command.index("--ckpt_path") + 1]
    main(["test", "--config", german, "--ckpt_path", ckpt, *quiet_args])
    [metrics] = sorted(tmp_path.glob("lightning_logs/german/version_*/metrics.csv"))[-1:]
    tested = pd.read_csv(metrics).dropna(subset=["test/accuracy"]).iloc[-1]
    assert list(frame.columns[:5]) == ["row", "y_prob", "y_pred", "y", "s"]
    assert len([c for c in frame.columns if c.startswith("code_")]) == 20
    assert (frame["y_pred"] == (frame["y_prob"] >= 0.5)).all()
    # The same weights and the same seeded samples as `fairlit test`: the same accuracy.
    assert (frame["y_pred"] == frame["y"]).mean() == pytest.approx(
        tested["test/accuracy"], abs=1e-6
    )


def test_logs_and_checkpoints_follow_default_root_dir(tmp_path):
    # Two epochs, shorter than the config's check_val_every_n_epoch (10): a checkpoint anyway.
    german = str(CONFIGS / "german.yaml")
    main(["fit", "--config", german, "--trainer.max_epochs=2",
          f"--trainer.default_root_dir={tmp_path / 'runs'}", "--trainer.enable_progress_bar=false"])  # fmt: skip
    version = tmp_path / "runs" / "lightning_logs" / "german" / "version_0"
    assert (version / "metrics.csv").is_file()
    assert [p.name for p in (version / "checkpoints").glob("*.ckpt")] == ["epoch=1-step=38.ckpt"]
    assert not (tmp_path / "lightning_logs").exists()  # nothing in the working directory


def test_command_line_model_options_win_over_the_checkpoint(tmp_path, quiet_args):
    import pandas as pd

    german = str(CONFIGS / "german.yaml")
    main(["fit", "--config", german, "--trainer.max_epochs=2", *quiet_args])
    [ckpt] = list(tmp_path.glob("lightning_logs/german/version_0/checkpoints/*.ckpt"))
    main(["test", "--config", german, f"--ckpt_path={ckpt}", *quiet_args])
    main(["test", "--config", german, f"--ckpt_path={ckpt}", *quiet_args,
          "--model.init_args.prediction_samples=1"])  # fmt: skip
    runs = [tmp_path / "lightning_logs" / "german" / f"version_{i}" for i in (1, 2)]
    assert "prediction_samples: 32" in (runs[0] / "hparams.yaml").read_text()
    assert "prediction_samples: 1\n" in (runs[1] / "hparams.yaml").read_text()
    auc = [pd.read_csv(r / "metrics.csv")["test/auc"].dropna().iloc[-1] for r in runs]
    assert auc[0] != auc[1]  # one sample per row predicts differently from the mean of 32


def test_fit_help_is_short_and_the_full_help_is_reachable(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--help"])
    assert info.value.code == 0
    short = capsys.readouterr().out
    assert len(short.splitlines()) < 120
    assert "--help-full" in short and "--trainer.max_epochs" not in short.split("Trainer")[0]
    assert "fairlit.data.AdultDataModule" in short  # the data classes are listed
    with pytest.raises(SystemExit):
        main(["fit", "--help-full"])
    full = capsys.readouterr().out
    assert "--trainer.max_epochs MAX_EPOCHS" in full and len(full.splitlines()) > 400


def test_max_epochs_zero_warns_that_nothing_is_trained(capsys, quiet_args):
    main(["fit", "--config", str(CONFIGS / "german.yaml"), "--trainer.max_epochs=0",
          "--test_after_fit=false", *quiet_args])  # fmt: skip
    err = capsys.readouterr().err
    assert "max_epochs=0" in err and "untrained" in err


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_report_rows_and_progress_bars_do_not_mix_in_a_terminal(tmp_path):
    """Run a fit in a pseudo-terminal and render what a terminal would show (pyte).

    The progress bar redraws its line with carriage returns and cursor moves; printed
    naively, the report's rows ended in leftover bar text ("...loss█████| 1/1 [00:00").
    """
    import fcntl
    import os
    import pty
    import struct
    import termios

    pyte = pytest.importorskip("pyte")
    rows, cols = 300, 120
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "fairlit", "fit", "--config", str(CONFIGS / "german.yaml"),
         "--trainer.max_epochs=3", "--trainer.check_val_every_n_epoch=1",
         f"--trainer.default_root_dir={tmp_path}"],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True, cwd=tmp_path,
        env=dict(os.environ, TERM="xterm", COLUMNS=str(cols), LINES=str(rows)),
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert process.wait(timeout=300) == 0
    raw = b"".join(chunks)
    assert b"it/s" in raw  # the progress bar did draw
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(raw)
    shown = [line.rstrip() for line in screen.display]
    table = [line for line in shown if line.startswith(("stage ", "val ", "test "))]
    assert len(table) == 6, shown  # two headers, three validation rows, one test row
    for line in table:
        assert line.endswith(("loss", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")), line
        assert "\u2588" not in line and "it/s" not in line, line


def test_an_unknown_subcommand_names_the_closest(capsys):
    from fairlit.entry import main as entry_main

    with pytest.raises(SystemExit) as info:
        entry_main(["fitt", "--config", "x.yaml"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "did you mean 'fit'?" in err[0] and "sweep" in err[0]


def test_attribute_and_required_option_errors_are_plain(capsys):
    [error, _] = _error_lines(capsys, "--data.init_args.sensitive=gender")
    assert "sensitive='gender' is not supported; choose one of ['age', 'sex']" in error
    with pytest.raises(SystemExit) as info:  # configs/csv.yaml names no sensitive column
        main(["fit", "--config", str(CONFIGS / "csv.yaml"), f"--data.init_args.path={CREDIT_CSV}",
              "--data.init_args.target=credit"])  # fmt: skip
    assert info.value.code == 2
    [error, _] = capsys.readouterr().err.strip().splitlines()[-2:]
    assert error.endswith("the following arguments are required: sensitive"), error
    assert "Namespace(" not in error


def test_a_weighted_run_says_so(capsys, quiet_args):
    main(["fit", "--config", str(CONFIGS / "csv.yaml"), f"--data.init_args.path={CREDIT_CSV}",
          "--data.init_args.target=credit", "--data.init_args.sensitive=sex",
          "--data.init_args.weight=duration", "--trainer.max_epochs=1",
          "--test_after_fit=false", *quiet_args])  # fmt: skip
    assert "fairlit: rows weighted by 'duration'" in capsys.readouterr().out
