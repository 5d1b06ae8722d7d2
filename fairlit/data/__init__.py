"""Data: bundled raw files, parsers and LightningDataModules.

Example:
    >>> from fairlit.data import GermanDataModule
    >>> dm = GermanDataModule(seed=1)
    >>> dm.setup("fit")
    >>> batch = next(iter(dm.train_dataloader()))
    >>> sorted(batch), batch["x"].shape[1] == dm.num_features
    (['s', 'x', 'y'], True)
"""

from fairlit.data.base import FairDataModule
from fairlit.data.datamodules import (
    AdultDataModule,
    CompasDataModule,
    CSVDataModule,
    GermanDataModule,
)
from fairlit.data.images import (
    BiasedDigitsDataModule,
    BiasedImageDataModule,
    BiasedMNISTDataModule,
)
from fairlit.data.loading import BatchLoader, TensorSplit, stratified_split
from fairlit.data.parsers import TabularSchema, load_adult, load_compas, load_german
from fairlit.data.resources import DataFileError, read_raw_bytes
from fairlit.data.tabular import TabularDataModule, TabularTable, encode_features

__all__ = [
    "AdultDataModule",
    "BatchLoader",
    "BiasedDigitsDataModule",
    "BiasedImageDataModule",
    "BiasedMNISTDataModule",
    "CSVDataModule",
    "CompasDataModule",
    "DataFileError",
    "FairDataModule",
    "GermanDataModule",
    "TabularDataModule",
    "TabularSchema",
    "TabularTable",
    "TensorSplit",
    "encode_features",
    "load_adult",
    "load_compas",
    "load_german",
    "read_raw_bytes",
    "stratified_split",
]
