"""The README's "Extend" example works as written.

The python block after the heading ``## Extend`` (``GroupMeanGap`` in
``my_project/penalties.py``) is copied into a temporary package, named from the
command line exactly as the README's shell command does, and called on batches
that miss a group.
"""

import re
import sys
from pathlib import Path

import pytest
import torch

from fairlit.cli import build_cli, main
from fairlit.nn import EncoderOutput

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
GERMAN = str(ROOT / "configs" / "german.yaml")
CLASS_PATH = "my_project.penalties.GroupMeanGap"
REGULARIZER_ARG = f"--model.init_args.regularizer={CLASS_PATH}"
ENCODER_ARG = "--model.init_args.encoder=my_project.encoders.ResidualBinaryEncoder"


def _extend_section() -> str:
    text = README.read_text(encoding="utf-8")
    heading = re.search(r"^## Extend[ \t]*$", text, flags=re.MULTILINE)
    assert heading, "README.md has no '## Extend' heading"
    rest = text[heading.end() :]
    following = re.search(r"^## ", rest, flags=re.MULTILINE)
    return rest[: following.start()] if following else rest


def _fenced_blocks(section: str, language: str) -> list[str]:
    pattern = rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$"
    return re.findall(pattern, section, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def readme_package(tmp_path, monkeypatch):
    """``tmp_path/my_project/`` holding each README block under the file name it starts with."""
    blocks = _fenced_blocks(_extend_section(), "python")
    named = {}
    for block in blocks:
        first = block.lstrip().splitlines()[0]
        assert first.startswith("# my_project/"), "each block names its file first"
        named[first.removeprefix("# my_project/").strip()] = block
    assert {"penalties.py", "encoders.py"} <= set(named)
    package = tmp_path / "my_project"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, block in named.items():
        (package / name).write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [m for m in sys.modules if m == "my_project" or m.startswith("my_project.")]:
        del sys.modules[name]


def test_readme_shell_command_names_the_python_block():
    commands = _fenced_blocks(_extend_section(), "bash")
    assert REGULARIZER_ARG in commands[0]
    assert ENCODER_ARG in commands[1]


def test_readme_encoder_runs_from_the_cli(readme_package):
    main(["fit", "--config", GERMAN, ENCODER_ARG,
          "--trainer.fast_dev_run=true", "--trainer.enable_progress_bar=false"])  # fmt: skip
    from my_project.encoders import ResidualBinaryEncoder

    cli = build_cli(["--config", GERMAN, ENCODER_ARG, "--trainer.logger=false",
                     f"--trainer.default_root_dir={readme_package}"])  # fmt: skip
    encoder = cli.model.encoder
    assert type(encoder) is ResidualBinaryEncoder
    assert encoder.in_features == cli.datamodule.num_features  # linked from the data
    # The inference mode comes with the base class and switches the code.
    encoder.eval()
    encoder.inference = "threshold"
    out = encoder(torch.randn(5, encoder.in_features))
    assert torch.equal(out.code, (out.probs >= 0.5).to(out.code.dtype))


def test_readme_regularizer_runs_from_the_cli(readme_package):
    main(["fit", "--config", GERMAN, REGULARIZER_ARG,
          "--trainer.fast_dev_run=true", "--trainer.enable_progress_bar=false"])  # fmt: skip


def test_readme_regularizer_replaces_the_configs(readme_package):
    from my_project.penalties import GroupMeanGap

    cli = build_cli(["--config", GERMAN, REGULARIZER_ARG, "--trainer.logger=false",
                     f"--trainer.default_root_dir={readme_package}"])  # fmt: skip
    assert type(cli.model.regularizer) is GroupMeanGap
    assert cli.model.regularizer.in_features == cli.model.encoder.out_features


@pytest.mark.parametrize(
    ("num_groups", "s"),
    [
        (2, [0, 0, 0, 0, 0]),  # group 1 missing
        (2, [1, 1, 1, 1, 1]),  # group 0 missing
        (3, [0, 2, 0, 2, 2]),  # the middle group missing
        (2, []),  # empty batch
    ],
)
def test_readme_regularizer_is_finite_when_a_group_is_missing(readme_package, num_groups, s):
    from my_project.penalties import GroupMeanGap

    s = torch.tensor(s, dtype=torch.long)
    probs = torch.rand(len(s), 4, generator=torch.Generator().manual_seed(0))
    code = torch.bernoulli(probs, generator=torch.Generator().manual_seed(1)).requires_grad_()
    penalty = GroupMeanGap(in_features=4, num_groups=num_groups)(EncoderOutput(code, probs), s)
    assert penalty.shape == ()
    assert torch.isfinite(penalty)
    penalty.backward()
    assert torch.isfinite(code.grad).all()


def test_readme_regularizer_value(readme_package):
    from my_project.penalties import GroupMeanGap

    code = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 1.0]])
    penalty = GroupMeanGap(2, 2)(EncoderOutput(code, None), torch.tensor([0, 0, 1, 1]))
    # group means (1, 0.5) and (0, 0.5): squared gap 1
    assert float(penalty) == pytest.approx(1.0)
    only_one = GroupMeanGap(2, 2)(EncoderOutput(code, None), torch.tensor([1, 1, 1, 1]))
    assert float(only_one) == 0.0
