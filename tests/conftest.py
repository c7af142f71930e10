"""Shared fixtures: a tiny-table-to-store helper and the hypothesis settings profile."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import settings

import tsfeed

settings.register_profile("tsfeed", deadline=None, max_examples=25)
settings.load_profile("tsfeed")


def write_and_ingest(
    directory: Path,
    series: Mapping[str, np.ndarray],
    *,
    times: Mapping[str, Sequence[Any]] | None = None,
    time_type: pa.DataType | None = None,
    file_format: str = "parquet",
    **ingest_options: Any,
) -> tsfeed.Store:
    """Write a long-format table to ``directory`` and ingest it into ``directory / "store"``.

    Args:
        directory: An empty folder.
        series: Series id to a ``(num_steps, num_features)`` array. The columns are named
            ``f0``, ``f1``, ...; NaN values become missing values.
        times: Series id to its time values; by default the integers ``0 .. num_steps - 1``.
        time_type: Arrow type of the time column, such as ``pa.timestamp("ns", "UTC")``;
            None lets pyarrow infer it.
        file_format: ``"parquet"`` or ``"csv"``.
        **ingest_options: Passed to :func:`tsfeed.ingest`, such as ``missing="drop"``.
    """
    ids: list[str] = []
    time_values: list[Any] = []
    blocks = []
    for series_id, values in series.items():
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        ids.extend([series_id] * len(values))
        time_values.extend(range(len(values)) if times is None else times[series_id])
        blocks.append(values)
    values = np.concatenate(blocks)
    columns: dict[str, Any] = {
        "series_id": pa.array(ids, pa.string()),
        "time": pa.array(time_values, time_type),
    }
    for column in range(values.shape[1]):
        columns[f"f{column}"] = pa.array(values[:, column])
    table = pa.table(columns)

    path = directory / f"input.{file_format}"
    if file_format == "parquet":
        pq.write_table(table, path)
    elif file_format == "csv":
        pa_csv.write_csv(table, path)
    else:
        raise ValueError(f"file_format must be 'parquet' or 'csv', got {file_format!r}.")
    return tsfeed.ingest(
        path, directory / "store", series_column="series_id", time_column="time", **ingest_options
    )


@pytest.fixture(scope="session")
def make_store(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tsfeed.Store]:
    """Return ``make(series, **options)``, which ingests into a fresh temporary folder.

    The fixture is session-scoped so that hypothesis tests can call it once per example.
    """

    def make(series: Mapping[str, np.ndarray], **options: Any) -> tsfeed.Store:
        return write_and_ingest(tmp_path_factory.mktemp("store"), series, **options)

    return make
