"""Appending rows and series to a store: same result as one ingest, published atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tsfeed
from tsfeed.cli import main

HOUR = 3_600_000_000_000


def _write(path: Path, rows: list[tuple[str, int, float]]) -> Path:
    ids, hours, values = zip(*rows, strict=True)
    table = pa.table(
        {
            "id": list(ids),
            "t": pa.array(np.array(hours) * HOUR, pa.timestamp("ns", "UTC")),
            "x": np.array(values, dtype=float),
            "y": np.array(values, dtype=float) * 2,
        }
    )
    pq.write_table(table, path)
    return path


def _contents(store: tsfeed.Store) -> dict[str, tuple[list[int], list[list[float]]]]:
    return {
        data.series_id: (data.times.tolist(), data.features.tolist())
        for data in store.iter_series()
    }


def test_append_equals_single_ingest(tmp_path: Path) -> None:
    first = [("a", h, h) for h in range(10)] + [("b", h, 100 + h) for h in range(5)]
    later = [("a", h, h) for h in range(10, 14)] + [("c", h, 200 + h) for h in range(6)]
    _write(tmp_path / "first.parquet", first)
    _write(tmp_path / "later.parquet", later)
    _write(tmp_path / "all.parquet", first + later)
    options = {"series_column": "id", "time_column": "t", "target_columns": ["x"]}
    store = tsfeed.ingest(tmp_path / "first.parquet", tmp_path / "store", **options)
    before = _contents(store)

    appended = tsfeed.append(tmp_path / "later.parquet", tmp_path / "store")
    whole = tsfeed.ingest(tmp_path / "all.parquet", tmp_path / "whole", **options)

    assert appended.series_ids == ["a", "b", "c"]
    assert _contents(appended) == _contents(whole)
    assert appended.target_columns == ["x"]
    assert appended.version_path.name == "v000002"
    assert _contents(store) == before  # a reader of the old version still reads the old rows


def test_append_overlap_error_then_keep_last(tmp_path: Path) -> None:
    _write(tmp_path / "first.parquet", [("a", h, h) for h in range(10)])
    _write(tmp_path / "fix.parquet", [("a", 9, -1.0), ("a", 10, 10.0)])
    tsfeed.ingest(
        tmp_path / "first.parquet", tmp_path / "store", series_column="id", time_column="t"
    )

    with pytest.raises(tsfeed.DuplicateTimestampError, match="series 'a' has 2 rows"):
        tsfeed.append(tmp_path / "fix.parquet", tmp_path / "store")
    assert tsfeed.open_store(tmp_path / "store").version_path.name == "v000001"

    store = tsfeed.append(tmp_path / "fix.parquet", tmp_path / "store", duplicates="keep_last")
    features = store.series(0).features
    assert features.shape == (11, 2)
    assert features[9].tolist() == [-1.0, -2.0]


def test_append_rejects_other_time_kind(tmp_path: Path) -> None:
    _write(tmp_path / "first.parquet", [("a", h, h) for h in range(10)])
    tsfeed.ingest(
        tmp_path / "first.parquet", tmp_path / "store", series_column="id", time_column="t"
    )
    naive = pa.table(
        {"id": ["a"], "t": pa.array([11 * HOUR], pa.timestamp("ns")), "x": [1.0], "y": [2.0]}
    )
    pq.write_table(naive, tmp_path / "naive.parquet")

    with pytest.raises(tsfeed.SchemaError, match="naive"):
        tsfeed.append(tmp_path / "naive.parquet", tmp_path / "store")


def test_append_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "first.parquet", [("a", h, h) for h in range(10)])
    _write(tmp_path / "later.parquet", [("a", h, h) for h in range(10, 12)])
    tsfeed.ingest(
        tmp_path / "first.parquet", tmp_path / "store", series_column="id", time_column="t"
    )

    status = main(["append", str(tmp_path / "later.parquet"), str(tmp_path / "store")])

    assert status == 0
    assert "store now has 1 series, 12 rows" in capsys.readouterr().out
