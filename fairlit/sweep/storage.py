"""Optuna storages for sweeps: a database URL, an SQLite file, or a journal file.

SQLite is serialized with ``BEGIN IMMEDIATE`` so that many worker processes claim queued trials
one at a time; a plain path becomes a journal file (for a shared file system).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna

from fairlit.sweep.trials import SweepUsageError

__all__ = ["open_storage"]

#: Seconds between a running trial's heartbeats (database storages), and after which a trial
#: whose heartbeat stopped counts as failed.
HEARTBEAT_INTERVAL, GRACE_PERIOD = 15, 120

_SEED_HIGH = 2**31 - 1
_PARAM_HIGH = 1e9


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL or a journal-file path.

    Args:
        spec: A database URL (``sqlite:///path.db``, ``postgresql://user@host/db``, ...),
            which gets heartbeats so that a trial of a killed worker is failed after
            :data:`GRACE_PERIOD` seconds, or a file path, which becomes a
            :class:`~optuna.storages.JournalStorage` journal file (for a shared file system).

    Returns:
        The storage.

    Raises:
        SweepUsageError: if the database cannot be opened (one line).
    """
    if "://" not in spec:
        from optuna.storages.journal import JournalFileBackend

        Path(spec).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(spec))
    engine: dict[str, Any] = {}
    if spec.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 120}}  # workers wait for each other's writes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                spec,
                engine_kwargs=engine,
                heartbeat_interval=HEARTBEAT_INTERVAL,
                grace_period=GRACE_PERIOD,
            )
        if spec.startswith("sqlite"):
            _serialize_sqlite(storage.engine)
        return storage
    except Exception as err:  # SQLAlchemy's errors are many and long
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SweepUsageError(f"--storage {spec}: cannot open it: {first}") from err


def _serialize_sqlite(engine: Any) -> None:
    """Make every SQLite transaction take the write lock at its start (``BEGIN IMMEDIATE``).

    Python's sqlite3 driver opens a transaction only at the first write, so a read-then-write
    such as Optuna's "claim a waiting trial" is not atomic across processes: two workers could
    both read a trial as waiting and both run it. With the lock taken at ``BEGIN`` every
    transaction runs alone (SQLAlchemy's recipe for SQLite transactions); workers wait for
    each other through the busy timeout instead.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners reconnect with them
