"""The short form of ``fairlit COMMAND --help`` (no fairlit or Lightning imports)."""

from __future__ import annotations

__all__ = ["short_help"]


def short_help(full: str, command: str) -> str:
    """``fairlit COMMAND --help`` without the usage synopsis and Lightning's Trainer options.

    The full text (``--help-full``) lists about 90 Trainer options; the short one keeps
    fairlit's own options, the model, the data and the subcommand's, and says where the rest
    are.
    """
    lines = full.splitlines()
    body = lines[next((i for i, line in enumerate(lines) if not line.strip()), 0) :]
    kept: list[str] = [
        f"usage: fairlit {command} [--config CONFIG] [--print_config] [--model ...] "
        "[--data ...] [--trainer.KEY VALUE] [--ckpt_path CKPT_PATH] [options]"
    ]
    skipping = False
    for line in body:
        if line.startswith("Customize every aspect of training via flags:"):
            skipping = True
            kept += [
                "Trainer options (Lightning's Trainer, e.g. --trainer.max_epochs=20,",
                f"--trainer.devices=2): `fairlit {command} --help-full` lists all of them.",
                "",
            ]
            continue
        if skipping and line and not line.startswith(" "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"
