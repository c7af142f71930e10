"""Synthetic long-format data at user scale, for tests, examples and benchmarks.

:func:`write_synthetic` writes a folder of Parquet files in the layout that
:func:`tsfeed.ingest` reads: one row per series and hour, with a ``customer_id`` column, a
zone-aware UTC ``timestamp`` column and float32 features ``f00``, ``f01``, ... Each feature is a
per-series level and trend plus a daily and a weekly cycle plus Gaussian noise. All series end at
the same hour; a fraction of them are shorter because they start later.

Generation streams: each file contains the series of one chunk, and only that chunk is in memory.
So 20,000 series of 2,000 steps and 17 features (2.7 GB of float32) never need more than one
file's worth of rows. Every series draws from its own generator, seeded by ``seed`` and the series
number, so the values of a series do not depend on ``rows_per_file``. The same arguments write the
same bytes with the same pyarrow version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

START_TIME = np.datetime64("2022-01-03T00:00:00", "us")
"""Timestamp of the first step of a full-length series (a Monday, 00:00 UTC)."""

DEFAULT_ROWS_PER_FILE = 500_000
_HOUR_US = 3_600_000_000
_DAY_HOURS = 24
_WEEK_HOURS = 168

__all__ = ["DEFAULT_ROWS_PER_FILE", "START_TIME", "write_synthetic"]

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(num_series_done, num_series)`` after each file."""


def write_synthetic(
    path: str | Path,
    *,
    num_series: int,
    num_steps: int,
    num_features: int = 17,
    seed: int = 0,
    short_fraction: float = 0.1,
    missing_fraction: float = 0.0,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write a seeded synthetic long-format dataset as a folder of Parquet files.

    Args:
        path: Folder to create. It must not exist or be empty.
        num_series: Number of series (customers), named ``c000000``, ``c000001``, ...
        num_steps: Hourly steps of a full-length series.
        num_features: Float32 feature columns ``f00``, ``f01``, ...
        seed: Seed of every random draw. The same arguments give identical files.
        short_fraction: Fraction of series that start later, with between a fifth of
            ``num_steps`` and ``num_steps - 1`` steps.
        missing_fraction: Probability that any one feature value is null.
        rows_per_file: Approximate rows per Parquet file. Each file contains whole series,
            at least one.
        progress: Optional callback, see :data:`ProgressCallback`.

    Returns:
        The folder.

    Raises:
        ValueError: If a count is below 1, a fraction is outside [0, 1], or ``path`` is a
            non-empty folder.
        TypeError: If a count is not an integer.
    """
    for name, value in (
        ("num_series", num_series),
        ("num_steps", num_steps),
        ("num_features", num_features),
        ("rows_per_file", rows_per_file),
    ):
        _check_count(name, value)
    for name, fraction in (
        ("short_fraction", short_fraction),
        ("missing_fraction", missing_fraction),
    ):
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {fraction}.")
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(
            f"path={str(folder)!r} exists and is not an empty folder. Pass a new or empty folder."
        )
    folder.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    lengths = _series_lengths(num_series, num_steps, seed, short_fraction)
    series_per_file = max(1, rows_per_file // num_steps)
    names = [f"f{j:02d}" for j in range(num_features)]
    logger.info(
        "synthetic data started: %d series, %d steps, %d features into %s",
        num_series,
        num_steps,
        num_features,
        folder,
    )
    for file_number, first in enumerate(range(0, num_series, series_per_file)):
        chosen = range(first, min(first + series_per_file, num_series))
        table = _chunk_table(chosen, lengths, num_steps, names, seed, float(missing_fraction))
        pq.write_table(table, folder / f"part-{file_number:05d}.parquet")
        logger.debug("wrote part %d: series %d..%d", file_number, chosen[0], chosen[-1])
        if progress is not None:
            progress(chosen[-1] + 1, num_series)
    logger.info(
        "synthetic data finished in %.1f s: %d rows", time.monotonic() - started, lengths.sum()
    )
    return folder


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")


def _series_lengths(
    num_series: int, num_steps: int, seed: int, short_fraction: float
) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    lengths = np.full(num_series, num_steps, dtype=np.int64)
    is_short = rng.random(num_series) < short_fraction
    shortest = max(1, num_steps // 5)
    if num_steps > shortest:
        lengths[is_short] = rng.integers(shortest, num_steps, size=int(is_short.sum()))
    return lengths


def _series_values(
    number: int, length: int, num_steps: int, num_features: int, seed: int, missing_fraction: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_] | None]:
    """Generate the ``(length, num_features)`` values of series ``number`` and its null mask."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(number,)))
    level = rng.normal(0.0, 10.0, num_features)
    trend = rng.normal(0.0, 2.0, num_features) / num_steps
    daily = rng.uniform(0.5, 3.0, num_features)
    weekly = rng.uniform(0.2, 1.5, num_features)
    daily_phase = rng.uniform(0.0, 2 * np.pi, num_features)
    weekly_phase = rng.uniform(0.0, 2 * np.pi, num_features)
    noise = rng.uniform(0.1, 0.8, num_features)

    # Hours counted from START_TIME, so cycles line up across series in wall-clock time.
    hours = np.arange(num_steps - length, num_steps, dtype=np.float64)[:, None]
    values = level + trend * hours
    values += daily * np.sin(2 * np.pi * hours / _DAY_HOURS + daily_phase)
    values += weekly * np.sin(2 * np.pi * hours / _WEEK_HOURS + weekly_phase)
    values += noise * rng.standard_normal((length, num_features))
    missing = None
    if missing_fraction > 0:
        missing = rng.random((length, num_features)) < missing_fraction
    return values.astype(np.float32), missing


def _chunk_table(
    numbers: range,
    lengths: npt.NDArray[np.int64],
    num_steps: int,
    names: list[str],
    seed: int,
    missing_fraction: float,
) -> pa.Table:
    chunk_lengths = lengths[numbers.start : numbers.stop]
    num_rows = int(chunk_lengths.sum())
    values = np.empty((num_rows, len(names)), dtype=np.float32)
    missing = np.zeros(values.shape, dtype=bool) if missing_fraction > 0 else None
    hours = np.empty(num_rows, dtype=np.int64)
    row = 0
    for number, length in zip(numbers, chunk_lengths, strict=True):
        end = row + int(length)
        series_values, series_missing = _series_values(
            number, int(length), num_steps, len(names), seed, missing_fraction
        )
        values[row:end] = series_values
        if missing is not None and series_missing is not None:
            missing[row:end] = series_missing
        hours[row:end] = np.arange(num_steps - length, num_steps)
        row = end

    ids = np.repeat(np.array([f"c{number:06d}" for number in numbers]), chunk_lengths)
    stamps = START_TIME.astype(np.int64) + hours * _HOUR_US
    columns: dict[str, pa.Array] = {
        "customer_id": pa.array(ids, pa.string()),
        "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
    }
    for j, name in enumerate(names):
        mask = None if missing is None else missing[:, j]
        columns[name] = pa.array(values[:, j], pa.float32(), mask=mask)
    return pa.table(columns)
