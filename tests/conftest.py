"""Shared test set-up: every test in a temporary folder, and a clean repository afterwards."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Caches the tools themselves keep in the working tree (all git-ignored).
_TOOL_CACHES = {".pytest_cache", "__pycache__", ".ruff_cache", ".mypy_cache", ".coverage"}


def _root_entries() -> set[str]:
    return {path.name for path in ROOT.iterdir()} - _TOOL_CACHES


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_ENTRIES] = _root_entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test left a file or folder in the repository root."""
    new = sorted(_root_entries() - session.config.stash.get(_ENTRIES, set()))
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: the tests wrote into the repository root: {new}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_ENTRIES = pytest.StashKey[set]()


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path, monkeypatch):
    """Run every test from its own temporary folder.

    Lightning and LightningCLI write relative paths (``lightning_logs/``, ``config.yaml``,
    ``checkpoints/``) into the working directory; from here they can never land in the
    repository. Tests name repository files by absolute path.
    """
    monkeypatch.chdir(tmp_path)
