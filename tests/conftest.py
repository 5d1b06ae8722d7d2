"""Shared test set-up."""

import pytest


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path, monkeypatch):
    """Run every test from its own temporary folder.

    Lightning and LightningCLI write relative paths (``lightning_logs/``, ``config.yaml``,
    ``checkpoints/``) into the working directory; from here they can never land in the
    repository. Tests name repository files by absolute path.
    """
    monkeypatch.chdir(tmp_path)
