import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fairlit.data import (
    AdultDataModule,
    BatchLoader,
    CompasDataModule,
    CSVDataModule,
    DataFileError,
    GermanDataModule,
    TensorSplit,
    load_adult,
    load_compas,
    load_german,
    read_raw_bytes,
    stratified_split,
)
from fairlit.data.parsers import ADULT_SCHEMA, parse_adult, parse_compas, parse_german
from fairlit.data.resources import resource_path

FAKE = Path(__file__).parent / "fake_raw"


# -- parsers on fake files in the real format ---------------------------------------------


def test_parse_adult_fake_quirks():
    table = parse_adult((FAKE / "adult.data").read_bytes(), (FAKE / "adult.test").read_bytes())
    # 6 train rows, 2 with "?"; 4 test rows (after the comment line), 1 with "?".
    assert (table["split"] == "train").sum() == 4
    assert (table["split"] == "test").sum() == 3
    assert table["income"].tolist() == [0, 1, 1, 0, 0, 0, 1]  # "." stripped from test labels
    assert "fnlwgt" in table.columns  # kept as an opt-in sample weight (weighted=True)
    assert "fnlwgt" not in ADULT_SCHEMA.columns  # never a feature
    assert not table.isna().any().any()


def test_parse_compas_fake_filter_and_no_scores():
    table = parse_compas((FAKE / "compas-scores-two-years.csv").read_bytes())
    assert len(table) == 5  # rows with days 45, is_recid -1 and charge "O" are filtered
    assert table["two_year_recid"].sum() == 2
    forbidden = [
        c for c in table.columns if "score" in c or c.startswith("v_") or c in {"id", "name"}
    ]
    assert forbidden == []
    unfiltered = parse_compas((FAKE / "compas-scores-two-years.csv").read_bytes(), False)
    assert len(unfiltered) == 8


def test_parse_german_fake():
    table = parse_german((FAKE / "german.data").read_bytes())
    assert table["credit"].tolist() == [1, 0, 1, 1, 0, 1]
    assert table["sex"].tolist() == ["male", "female", "male", "male", "male", "female"]
    assert table["age"].dtype.kind == "i"


def test_parse_adult_rejects_unknown_category():
    bad = (FAKE / "adult.data").read_bytes().replace(b"State-gov", b"Space-agency")
    with pytest.raises(DataFileError, match=r"workclass.*Space-agency"):
        parse_adult(bad, (FAKE / "adult.test").read_bytes())


# -- the real bundled files ------------------------------------------------------------


def test_real_row_counts_and_label_rates():
    adult = load_adult()
    assert len(adult) == 45222
    assert ((adult["split"] == "train").sum(), (adult["split"] == "test").sum()) == (30162, 15060)
    assert round(adult["income"].mean(), 4) == 0.2478
    compas = load_compas()
    assert len(compas) == 6172
    assert round(compas["two_year_recid"].mean(), 4) == 0.4551
    assert len(load_compas(propublica_filter=False)) == 7214
    german = load_german()
    assert len(german) == 1000
    assert german["credit"].mean() == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("module", "kwargs", "rows"),
    [
        (CompasDataModule, {}, 5278),
        (CompasDataModule, {"sensitive": "race_caucasian"}, 6172),
        (CompasDataModule, {"sensitive": "sex"}, 6172),
        (CompasDataModule, {"preset": "cerrato"}, 6150),
        (GermanDataModule, {}, 1000),
        (GermanDataModule, {"sensitive": "sex"}, 1000),
        (AdultDataModule, {"preset": "cerrato"}, 45222),
    ],
)
def test_datamodule_total_rows(module, kwargs, rows):
    dm = module(**kwargs)
    dm.setup("fit")
    total = len(dm.train_dataset) + len(dm.val_dataset) + len(dm.test_dataset)
    assert total == rows
    assert dm.train_dataset.x.shape[1] == dm.num_features


def test_adult_official_split():
    dm = AdultDataModule()
    dm.setup("fit")
    dm.setup("test")
    assert len(dm.train_dataset) + len(dm.val_dataset) == 30162
    assert len(dm.test_dataset) == 15060
    # s is sex (Male = 1): compare with the parsed table.
    test = load_adult().query("split == 'test'")
    assert dm.test_dataset.s.sum().item() == (test["sex"] == "Male").sum()
    assert dm.test_dataset.y.sum().item() == test["income"].sum()


def test_cerrato_compas_features():
    dm = CompasDataModule(preset="cerrato")
    assert dm.feature_names == [
        "priors_count",
        "sex=Female",
        "sex=Male",
        "age_cat=Less than 25",
        "age_cat=25 - 45",
        "age_cat=Greater than 45",
        "c_charge_degree=F",
        "c_charge_degree=M",
        "c_charge_degree=O",
    ]
    dm.setup()
    assert len(dm.test_dataset) == pytest.approx(6150 / 3, abs=3)


# -- checksums and user-supplied files ---------------------------------------------------


def _unpack(name: str, folder: Path) -> Path:
    target = folder / name
    with gzip.open(resource_path(name)) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def test_user_supplied_directory_is_read_and_verified(tmp_path):
    _unpack("german.data", tmp_path)
    assert len(load_german(tmp_path)) == 1000
    dm = GermanDataModule(data_dir=tmp_path)
    dm.setup()
    assert len(dm.train_dataset) > 0


def test_corrupted_file_names_file_and_both_checksums(tmp_path):
    path = _unpack("german.data", tmp_path)
    data = bytearray(path.read_bytes())
    data[100] = ord("9") if data[100] != ord("9") else ord("8")
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError) as err:
        load_german(tmp_path)
    message = str(err.value)
    assert "german.data" in message
    assert "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871" in message
    assert "got " in message and "Replace it" in message


def test_truncated_gzip_is_a_clear_error(tmp_path):
    blob = resource_path("german.data").read_bytes()
    (tmp_path / "german.data.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match=r"german\.data\.gz.*truncated or corrupted"):
        read_raw_bytes("german.data", tmp_path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataFileError, match=r"holds neither 'adult\.data'"):
        AdultDataModule(data_dir=tmp_path).setup()
    with pytest.raises(DataFileError, match="does not exist"):
        read_raw_bytes("german.data", tmp_path / "nope.data")


# -- DataModule behaviour ------------------------------------------------------------


def test_sensitive_column_excluded_unless_asked():
    dm = GermanDataModule(sensitive="sex")
    assert not any(n.startswith("personal_status_sex") for n in dm.feature_names)
    dm = AdultDataModule()
    assert not any(n.startswith("sex=") for n in dm.feature_names)
    kept = CompasDataModule(sensitive="sex", include_sensitive_in_features=True)
    kept.setup()
    column = kept.feature_names.index("sex=Male")
    assert torch.equal(kept.train_dataset.x[:, column].long(), kept.train_dataset.s)


def test_num_features_known_before_setup_and_stable_across_splits():
    dm = CompasDataModule(sensitive="race_caucasian")
    width = dm.num_features
    dm.setup()
    for ds in (dm.train_dataset, dm.val_dataset, dm.test_dataset):
        assert ds.x.shape[1] == width
        assert (
            ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64 and ds.s.dtype == torch.int64
        )


def test_scaler_uses_training_statistics_only(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "rid": np.arange(n, dtype=float),
            "noise": rng.normal(size=n),
            "g": rng.choice(["a", "b"], size=n),
            "label": rng.integers(0, 2, size=n),
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    dm = CSVDataModule(path, target="label", sensitive="g", val_fraction=0.2, test_fraction=0.2)
    dm.setup()
    col = dm.feature_names.index("rid")
    train_x = dm.train_dataset.x[:, col].double()
    raw_train_rid = train_x * dm.feature_std[col] + dm.feature_mean[col]
    # The mean used is the mean of the *training* rows, not of the whole file.
    assert dm.feature_mean[col] == pytest.approx(raw_train_rid.mean().item(), abs=1e-4)
    assert dm.feature_mean[col] != pytest.approx(frame["rid"].mean(), abs=1e-3)
    assert train_x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert train_x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_splits_are_seeded_and_stratified():
    def rows(seed):
        dm = GermanDataModule(seed=seed)
        dm.setup()
        return dm.test_dataset.x

    assert torch.equal(rows(3), rows(3))
    assert not torch.equal(rows(3), rows(4))
    dm = GermanDataModule(seed=5)
    dm.setup()
    for ds in (dm.train_dataset, dm.test_dataset):
        cell = (ds.y * 2 + ds.s).bincount(minlength=4).double() / len(ds)
        full = load_german()
        ref = (full["credit"] * 2 + (full["age"] > 25)).value_counts(normalize=True).sort_index()
        assert np.allclose(cell.numpy(), ref.to_numpy(), atol=0.02)


def test_stratified_split_partitions_and_is_proportional():
    strata = np.repeat([0, 1, 2], [50, 30, 20])
    a, b, c = stratified_split(strata, (0.2, 0.1), seed=0)
    assert sorted(np.concatenate([a, b, c]).tolist()) == list(range(100))
    assert np.bincount(strata[b]).tolist() == [10, 6, 4]
    assert np.bincount(strata[c]).tolist() == [5, 3, 2]
    with pytest.raises(ValueError, match="sum to less than 1"):
        stratified_split(strata, (0.6, 0.5), seed=0)


def test_batches_are_named_and_cover_each_row_once():
    dm = GermanDataModule(batch_size=64)
    dm.setup()
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)
    batches = list(loader)
    assert set(batches[0]) == {"x", "y", "s"}
    seen = torch.cat([b["x"] for b in batches])
    assert len(seen) == len(dm.train_dataset) and len(batches) == len(loader)
    key = torch.arange(seen.shape[1], dtype=torch.float64)  # a row fingerprint
    assert torch.allclose(
        (seen.double() @ key).sort().values, (dm.train_dataset.x.double() @ key).sort().values
    )
    again = torch.cat([b["x"] for b in loader])
    assert torch.equal(seen, again)  # same epoch -> same order
    loader.sampler.set_epoch(1)
    assert not torch.equal(seen, torch.cat([b["x"] for b in loader]))


def test_loader_shards_for_data_parallel():
    ds = TensorSplit(torch.arange(11.0)[:, None], torch.zeros(11), torch.zeros(11))
    train = [BatchLoader(ds, 4, shuffle=True, seed=1, num_replicas=2, rank=r) for r in range(2)]
    for loader in train:
        loader.sampler.set_epoch(0)
    lengths = [sum(len(b["x"]) for b in loader) for loader in train]
    assert lengths == [6, 6]  # padded to equal work
    union = {int(v) for loader in train for b in loader for v in b["x"].flatten()}
    assert union == set(range(11))
    evals = [BatchLoader(ds, 4, num_replicas=2, rank=r) for r in range(2)]
    values = sorted(int(v) for loader in evals for b in loader for v in b["x"].flatten())
    assert values == list(range(11))  # every row exactly once, no padding


# -- bad input --------------------------------------------------------------------------


def test_wrong_sensitive_name_lists_choices():
    with pytest.raises(
        ValueError, match=r"sensitive='gender'.*\['sex', 'race', 'race_white_black'\]"
    ):
        AdultDataModule(sensitive="gender")
    with pytest.raises(ValueError, match=r"\['age', 'sex'\]"):
        GermanDataModule(sensitive="race")


@pytest.mark.parametrize("value", [0, -5, 2.5])
def test_bad_batch_size(value):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        GermanDataModule(batch_size=value)


def test_adult_rejects_test_fraction_with_official_split():
    with pytest.raises(ValueError, match=r"official adult\.test"):
        AdultDataModule(test_fraction=0.3)


@pytest.fixture
def csv_frame():
    return pd.DataFrame(
        {
            "x1": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "color": ["r", "g", "r", "g", "r", "g"],
            "group": ["u", "v", "u", "v", "u", "v"],
            "label": ["yes", "no", "yes", "no", "no", "yes"],
        }
    )


def test_csv_datamodule_happy_path(tmp_path, csv_frame):
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    dm = CSVDataModule(
        path,
        target="label",
        sensitive="group",
        positive_label="yes",
        val_fraction=0.0,
        test_fraction=0.34,
    )
    assert dm.num_features == 3 and dm.group_names == ("u", "v")
    dm.setup()
    assert len(dm.train_dataset) + len(dm.test_dataset) == 6
    y = torch.cat([dm.train_dataset.y, dm.test_dataset.y])
    assert y.sum().item() == 3


def test_csv_missing_column(tmp_path, csv_frame):
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match=r"mine\.csv.*\['income'\] not found.*columns \['x1'"):
        CSVDataModule(path, target="income", sensitive="group")


def test_csv_non_binary_target(tmp_path, csv_frame):
    csv_frame["label"] = [0, 1, 2, 0, 1, 2]
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match=r"target column 'label' must be binary"):
        CSVDataModule(path, target="label", sensitive="group")


def test_csv_without_positive_label_for_strings(tmp_path, csv_frame):
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match="pass positive_label"):
        CSVDataModule(path, target="label", sensitive="group")


def test_csv_nan_in_numeric(tmp_path, csv_frame):
    csv_frame.loc[3, "x1"] = np.nan
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    with pytest.raises(
        DataFileError, match=r"numeric column 'x1' holds NaN or inf \(first at row 3\)"
    ):
        CSVDataModule(path, target="label", sensitive="group", positive_label="yes")


def test_csv_text_in_numeric(tmp_path, csv_frame):
    csv_frame["x1"] = ["1", "2", "three", "4", "5", "6"]
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    with pytest.raises(
        DataFileError, match=r"numeric column 'x1' holds non-numeric value\(s\) \['three'\]"
    ):
        CSVDataModule(path, target="label", sensitive="group", numeric=["x1"], positive_label="yes")


def test_csv_single_group(tmp_path, csv_frame):
    csv_frame["group"] = "u"
    path = tmp_path / "mine.csv"
    csv_frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match="single group"):
        CSVDataModule(path, target="label", sensitive="group", positive_label="yes")


def _color_csv(path, colors, shift=0.0, rows=60):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, rows).round(1),
            "color": [colors[i % len(colors)] for i in range(rows)],
            "sex": ["f", "m"] * (rows // 2),
            "label": rng.integers(0, 2, rows),
        }
    )
    frame.to_csv(path, index=False)
    return str(path)


def test_scoring_data_gets_the_training_preprocessing_from_the_checkpoint(tmp_path, tiny_trainer):
    import numpy as np

    from fairlit.data import CSVDataModule
    from fairlit.data.resources import DataFileError
    from fairlit.models import FairRepresentationModel
    from fairlit.nn import HybridBinaryEncoder

    train = CSVDataModule(_color_csv(tmp_path / "train.csv", ["blue", "red"]), "label", "sex",
                          batch_size=16, test_fraction=0.25)  # fmt: skip
    model = FairRepresentationModel(HybridBinaryEncoder(train.num_features, 4))
    trainer = tiny_trainer()
    trainer.fit(model, datamodule=train)
    ckpt = tmp_path / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    # Same columns and categories, other values: the training scaler, not one refitted.
    shifted = CSVDataModule(_color_csv(tmp_path / "score.csv", ["blue", "red"], shift=30.0),
                            "label", "sex", batch_size=16, test_fraction=0.25)  # fmt: skip
    tiny_trainer().predict(model, datamodule=shifted, ckpt_path=ckpt)
    np.testing.assert_allclose(shifted.feature_mean, train.feature_mean)
    np.testing.assert_allclose(shifted.feature_std, train.feature_std)
    assert shifted.state_dict() == train.state_dict()
    # A category the training data never had is an error that names it (it used to land in
    # another category's one-hot column).
    green = CSVDataModule(_color_csv(tmp_path / "green.csv", ["green", "red"]), "label", "sex",
                          batch_size=16, test_fraction=0.25)  # fmt: skip
    with pytest.raises(DataFileError, match=r"color.*green"):
        tiny_trainer().predict(model, datamodule=green, ckpt_path=ckpt)


def test_predict_on_a_new_csv_scores_every_row_like_the_training_file(tmp_path, tiny_trainer):
    import pandas as pd

    from fairlit.data import CSVDataModule
    from fairlit.models import FairRepresentationModel
    from fairlit.nn import HybridBinaryEncoder

    source = _color_csv(tmp_path / "train.csv", ["blue", "red", "white"])
    train = CSVDataModule(source, "label", "sex", batch_size=16, test_fraction=0.25)
    model = FairRepresentationModel(
        HybridBinaryEncoder(train.num_features, 4, inference="threshold")
    )
    trainer = tiny_trainer()
    trainer.fit(model, datamodule=train)
    ckpt = tmp_path / "model.ckpt"
    trainer.save_checkpoint(ckpt)

    def scores(path):
        dm = CSVDataModule(path, "label", "sex", batch_size=7, test_fraction=0.25)
        out = tiny_trainer().predict(model, datamodule=dm, ckpt_path=ckpt)
        return torch.cat([b["y_prob"] for b in out])

    everything = scores(source)
    assert len(everything) == 60  # every row, not a split
    # A subset of the rows, in another order, holding fewer categories (no "white").
    frame = pd.read_csv(source)
    subset = frame[frame["color"] != "white"].sample(frac=1.0, random_state=1)
    subset.to_csv(tmp_path / "subset.csv", index=False)
    torch.testing.assert_close(
        scores(str(tmp_path / "subset.csv")), everything[subset.index.to_numpy()]
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty; expected a header row and data rows"),
        ("grp,y\n", "the file has a header (grp, y) but no data rows"),
    ],
    ids=["empty", "header-only"],
)
def test_empty_csv_files_name_the_file(tmp_path, content, expected):
    from fairlit.data import CSVDataModule
    from fairlit.data.resources import DataFileError

    path = tmp_path / "table.csv"
    path.write_text(content)
    with pytest.raises(DataFileError) as info:
        CSVDataModule(str(path), target="y", sensitive="grp")
    assert str(info.value) == f"{path}: {expected}"
