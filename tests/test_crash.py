"""Killing an ingest at any moment leaves the old store or none, and the next ingest works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tsfeed

HOUR = 3_600_000_000_000
NUM_SERIES = 300
NUM_STEPS = 5000

INGEST = """
import sys, tsfeed
tsfeed.ingest(sys.argv[1], sys.argv[2], series_column="id", time_column="t",
              overwrite=True, bucket_bytes=4 << 20, shard_bytes=4 << 20)
print("done", flush=True)
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "input"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for part in range(3):
        series = np.arange(part * 100, (part + 1) * 100)
        table = pa.table(
            {
                "id": np.repeat([f"c{i:04d}" for i in series], NUM_STEPS),
                "t": pa.array(np.tile(np.arange(NUM_STEPS) * HOUR, 100), pa.timestamp("ns", "UTC")),
                **{f"f{k}": rng.standard_normal(100 * NUM_STEPS) for k in range(8)},
            }
        )
        pq.write_table(table, folder / f"part{part}.parquet")
    return folder


def _ingest_and_kill(source: Path, store: Path, delay: float) -> int:
    """Run an ingest in a child process, kill it after ``delay`` seconds if still running, and
    return its exit status (negative when a signal ended it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", INGEST, str(source), str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    return child.wait()


def test_crash_kill_really_interrupts(source: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"

    status = _ingest_and_kill(source, store, 0.5)

    assert status == -signal.SIGKILL, "the ingest finished before the kill; enlarge the input"
    assert not store.exists()


@pytest.mark.parametrize("delay", [0.6, 0.9, 1.2])
def test_crash_kill_new_store_leaves_nothing(source: Path, tmp_path: Path, delay: float) -> None:
    store = tmp_path / "store"

    _ingest_and_kill(source, store, delay)

    # The kill may land before or after the publishing rename, so either no store exists or a
    # complete one does; never a partial one.
    if store.exists():
        assert tsfeed.open_store(store).num_series == NUM_SERIES
        assert tsfeed.open_store(store).verify() == []
    complete = tsfeed.ingest(source, store, series_column="id", time_column="t", overwrite=True)
    assert complete.num_series == NUM_SERIES
    assert not list(tmp_path.glob(".tsfeed-staging-*"))


@pytest.mark.parametrize("delay", [0.6, 0.9, 1.2])
def test_crash_kill_overwrite_keeps_old_store(source: Path, tmp_path: Path, delay: float) -> None:
    store = tmp_path / "store"
    old = tsfeed.ingest(source / "part0.parquet", store, series_column="id", time_column="t")
    assert old.num_series == 100

    _ingest_and_kill(source, store, delay)

    # Before the pointer swap the old version is current, after it the new one; never a mix.
    reopened = tsfeed.open_store(store)
    assert reopened.num_series in {100, NUM_SERIES}
    assert reopened.verify() == []
    assert reopened.series(0).features.shape == (NUM_STEPS, 8)
    again = tsfeed.ingest(source, store, series_column="id", time_column="t", overwrite=True)
    assert again.num_series == NUM_SERIES
    assert not list(store.glob(".tsfeed-staging-*"))
