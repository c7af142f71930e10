"""Bad arguments and inputs found by trying tsfeed as a new user: each gets a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tsfeed

HOUR = 3_600_000_000_000
CSV = "sid,t,a,b\nA,2024-01-01T00:00:00Z,1,2\nA,2024-01-01T01:00:00Z,3,4\n"


def _parquet_store(tmp_path: Path, num_steps: int = 30) -> tsfeed.Store:
    table = pa.table(
        {
            "sid": ["A"] * num_steps,
            "t": pa.array(np.arange(num_steps) * HOUR, pa.timestamp("ns", "UTC")),
            "a": np.arange(num_steps, dtype=float),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    return tsfeed.ingest(
        tmp_path / "in.parquet", tmp_path / "store", series_column="sid", time_column="t"
    )


@pytest.mark.parametrize(
    ("features", "targets", "message"),
    [
        (["a", "sid"], None, "feature_columns includes 'sid', which is the series or time column"),
        (["a", "t"], None, "feature_columns includes 't', which is the series or time column"),
        (["a"], ["t"], "target_columns includes 't'"),
        (["a", "a"], None, "feature_columns lists 'a' more than once"),
    ],
    ids=["series-as-feature", "time-as-feature", "time-as-target", "repeated-feature"],
)
def test_errors_column_roles(
    tmp_path: Path, features: list[str], targets: list[str] | None, message: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(CSV)

    with pytest.raises(ValueError, match=message):
        tsfeed.ingest(
            source,
            tmp_path / "store",
            series_column="sid",
            time_column="t",
            feature_columns=features,
            target_columns=targets,
        )
    assert not (tmp_path / "store").exists()


def test_errors_csv_with_bom_and_spaced_header(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes("\ufeffsid, t, a, b\n".encode() + CSV.split("\n", 1)[1].encode())

    store = tsfeed.ingest(source, tmp_path / "store", series_column="sid", time_column="t")

    assert store.feature_columns == ["a", "b"]
    assert store.series(0).features.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_errors_zero_byte_file(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"empty{suffix}"
    source.write_bytes(b"")

    with pytest.raises(tsfeed.EmptyInputError, match=r"empty\..* is empty \(0 bytes\)"):
        tsfeed.ingest(source, tmp_path / "store", series_column="sid", time_column="t")


@pytest.mark.parametrize("seed", ["abc", 1.5, -1, 2**70, True])
def test_errors_bad_seed(tmp_path: Path, seed: object) -> None:
    store = _parquet_store(tmp_path)

    with pytest.raises(TypeError, match="seed must be None or an integer"):
        tsfeed.make_datasets(store, tsfeed.WindowSpec(5), validation_cutoff=None, seed=seed)


def test_errors_missing_shard_before_training(tmp_path: Path) -> None:
    store = _parquet_store(tmp_path)
    next(store.version_path.glob("shard-*.arrow")).unlink()

    with pytest.raises(tsfeed.StoreCorruptError, match=r"shard .*shard-00000\.arrow is missing"):
        tsfeed.make_datasets(
            tsfeed.open_store(tmp_path / "store"), tsfeed.WindowSpec(5), validation_cutoff=None
        )


def test_errors_date_only_cutoff_with_offset() -> None:
    with pytest.raises(ValueError, match="zone offset that Python ignores"):
        tsfeed.Cutoff.at("2024-01-05+05:00")


def test_errors_naive_cutoff_suggests_a_working_offset(tmp_path: Path) -> None:
    store = _parquet_store(tmp_path)

    with pytest.raises(ValueError, match=r"'1970-01-01T10:00:00\+00:00'") as error:
        tsfeed.make_datasets(store, tsfeed.WindowSpec(5), validation_cutoff="1970-01-01T10:00")
    suggestion = str(error.value).split("such as '")[1].split("'")[0]
    tsfeed.make_datasets(store, tsfeed.WindowSpec(5), validation_cutoff=suggestion)


def test_errors_step_cutoff_too_large_names_lengths(tmp_path: Path) -> None:
    store = _parquet_store(tmp_path)

    with pytest.raises(
        tsfeed.NoWindowsError, match=r"series have 30 to 30 steps, and a window needs 26"
    ):
        tsfeed.make_datasets(store, tsfeed.WindowSpec(25), validation_cutoff=10)
