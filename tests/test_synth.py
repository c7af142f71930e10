"""Tests of tsfeed.synth: seeded synthetic long-format Parquet data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import tsfeed
from tsfeed.synth import START_TIME, write_synthetic

HOUR_US = 3_600_000_000


def read_all(folder: Path) -> pa.Table:
    return ds.dataset(folder, format="parquet").to_table()


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synth") / "small"
    return write_synthetic(
        folder, num_series=30, num_steps=300, num_features=5, seed=3, short_fraction=0.4
    )


def test_synth_same_seed_same_bytes(tmp_path: Path) -> None:
    arguments = dict(num_series=12, num_steps=100, num_features=4, seed=11, missing_fraction=0.1)
    first = write_synthetic(tmp_path / "a", rows_per_file=500, **arguments)
    second = write_synthetic(tmp_path / "b", rows_per_file=500, **arguments)
    assert file_bytes(first) == file_bytes(second)


def test_synth_other_seed_other_values(tmp_path: Path) -> None:
    first = read_all(write_synthetic(tmp_path / "a", num_series=3, num_steps=50, seed=1))
    second = read_all(write_synthetic(tmp_path / "b", num_series=3, num_steps=50, seed=2))
    assert not first.column("f00").equals(second.column("f00"))


def test_synth_values_independent_of_rows_per_file(tmp_path: Path) -> None:
    arguments = dict(num_series=10, num_steps=80, num_features=3, seed=5, missing_fraction=0.2)
    one_file = write_synthetic(tmp_path / "one", rows_per_file=10_000, **arguments)
    many_files = write_synthetic(tmp_path / "many", rows_per_file=160, **arguments)
    assert len(list(one_file.iterdir())) == 1
    assert len(list(many_files.iterdir())) == 5
    assert read_all(one_file).equals(read_all(many_files))


def test_synth_columns_and_types(small: Path) -> None:
    schema = read_all(small).schema
    assert schema.names == ["customer_id", "timestamp", "f00", "f01", "f02", "f03", "f04"]
    assert schema.field("customer_id").type == pa.string()
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    for name in ("f00", "f01", "f02", "f03", "f04"):
        assert schema.field(name).type == pa.float32(), name


def test_synth_series_ids_and_row_count(small: Path) -> None:
    table = read_all(small)
    ids = sorted(set(table.column("customer_id").to_pylist()))
    assert ids == [f"c{number:06d}" for number in range(30)]
    assert table.num_rows <= 30 * 300
    assert table.num_rows > 30 * 300 * 0.5


def test_synth_series_hourly_and_aligned_at_end(small: Path) -> None:
    table = read_all(small)
    ids = np.asarray(table.column("customer_id").to_pylist())
    stamps = table.column("timestamp").cast(pa.int64()).to_numpy()
    last = START_TIME.astype(np.int64) + 299 * HOUR_US
    for series_id in np.unique(ids):
        times = stamps[ids == series_id]
        assert (np.diff(times) == HOUR_US).all(), series_id
        assert times[-1] == last, series_id


def test_synth_short_series_exist(small: Path) -> None:
    ids = np.asarray(read_all(small).column("customer_id").to_pylist())
    _, lengths = np.unique(ids, return_counts=True)
    assert (lengths < 300).sum() >= 5
    assert (lengths == 300).sum() >= 5
    # Short series keep at least a fifth of the full length: 300 // 5 = 60 steps.
    assert lengths.min() >= 60


def test_synth_no_short_series_at_zero_fraction(tmp_path: Path) -> None:
    folder = write_synthetic(tmp_path / "d", num_series=20, num_steps=40, short_fraction=0.0)
    assert read_all(folder).num_rows == 20 * 40


def test_synth_no_nulls_by_default(small: Path) -> None:
    table = read_all(small)
    assert sum(column.null_count for column in table.columns) == 0


def test_synth_missing_fraction_honoured(tmp_path: Path) -> None:
    folder = write_synthetic(
        tmp_path / "d", num_series=20, num_steps=200, num_features=17, missing_fraction=0.05
    )
    table = read_all(folder)
    features = table.drop_columns(["customer_id", "timestamp"])
    num_null = sum(column.null_count for column in features.columns)
    # 68,000 cells at p = 0.05: the standard deviation of the share is below 0.001.
    share = num_null / (features.num_rows * features.num_columns)
    assert 0.045 < share < 0.055
    assert table.column("customer_id").null_count == 0
    assert table.column("timestamp").null_count == 0


def test_synth_daily_cycle_visible(tmp_path: Path) -> None:
    folder = write_synthetic(tmp_path / "d", num_series=1, num_steps=24 * 7 * 8, num_features=6)
    values = read_all(folder).drop_columns(["customer_id", "timestamp"])
    for name in values.column_names:
        series = values.column(name).to_numpy().astype(np.float64)
        series = series - np.convolve(series, np.ones(168) / 168, mode="same")
        core = series[168:-168]
        lag_day = np.corrcoef(core[:-24], core[24:])[0, 1]
        lag_half_day = np.corrcoef(core[:-12], core[12:])[0, 1]
        assert lag_day > lag_half_day, name


def test_synth_progress_reports_each_file(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    write_synthetic(
        tmp_path / "d",
        num_series=7,
        num_steps=10,
        rows_per_file=30,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(3, 7), (6, 7), (7, 7)]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        pytest.param(
            {"num_series": 0}, ValueError, "num_series must be at least 1", id="no-series"
        ),
        pytest.param(
            {"num_steps": 2.5}, TypeError, "num_steps must be an integer", id="float-steps"
        ),
        pytest.param({"short_fraction": 1.5}, ValueError, "short_fraction must lie", id="short"),
        pytest.param({"missing_fraction": -0.1}, ValueError, "missing_fraction must", id="missing"),
        pytest.param({"rows_per_file": 0}, ValueError, "rows_per_file must be", id="rows"),
    ],
)
def test_synth_rejects_bad_arguments(
    tmp_path: Path, arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    full = {"num_series": 2, "num_steps": 10, **arguments}
    with pytest.raises(error, match=message):
        write_synthetic(tmp_path / "d", **full)  # type: ignore[arg-type]


def test_synth_rejects_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "other.txt").write_text("x")
    with pytest.raises(ValueError, match="not an empty folder"):
        write_synthetic(tmp_path / "d", num_series=1, num_steps=5)


def test_synth_ingest_accepts_output(small: Path, tmp_path: Path) -> None:
    store = tsfeed.ingest(
        small, tmp_path / "store", series_column="customer_id", time_column="timestamp"
    )
    table = read_all(small)
    assert store.num_series == 30
    assert store.num_rows == table.num_rows
    assert store.feature_columns == ["f00", "f01", "f02", "f03", "f04"]
    assert store.time_zone == "UTC"
    position = store.position_of("c000007")
    rows = table.filter(pa.compute.equal(table.column("customer_id"), "c000007"))
    expected = np.column_stack([rows.column(name).to_numpy() for name in store.feature_columns])
    np.testing.assert_array_equal(store.series(position).features, expected)


def test_synth_ingest_drops_missing(tmp_path: Path) -> None:
    folder = write_synthetic(
        tmp_path / "d", num_series=4, num_steps=100, num_features=3, missing_fraction=0.01
    )
    with pytest.raises(tsfeed.MissingValueError):
        tsfeed.ingest(
            folder, tmp_path / "strict", series_column="customer_id", time_column="timestamp"
        )
    store = tsfeed.ingest(
        folder,
        tmp_path / "store",
        series_column="customer_id",
        time_column="timestamp",
        missing="drop",
    )
    assert store.num_rows == read_all(folder).num_rows
    assert int(store.num_missing.sum()) > 0
