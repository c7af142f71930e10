"""The store: opening it, lazy memory mapping of shards, and detection of damaged shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tsfeed

MB = 1 << 20


def _write_table(path: Path, columns: Mapping[str, Sequence[Any] | pa.Array]) -> Path:
    """Write columns to a Parquet file at ``path``."""
    pq.write_table(pa.table(dict(columns)), path)
    return path


def _small_store(tmp_path: Path, num_series: int = 6, num_steps: int = 50) -> tsfeed.Store:
    """Ingest ``num_series`` series with integer time, split into one shard per series or so."""
    ids = np.repeat([f"s{k}" for k in range(num_series)], num_steps)
    time = np.tile(np.arange(num_steps, dtype=np.int64), num_series)
    x = np.arange(num_series * num_steps, dtype=np.float64)
    source = _write_table(tmp_path / "input.parquet", {"id": ids, "t": time, "x": x})
    # A row takes 8 bytes of time and 4 + 4 of feature and target, so 800 bytes hold 50 rows.
    return tsfeed.ingest(
        source, tmp_path / "store", series_column="id", time_column="t", shard_bytes=800
    )


def _shard_path(store: tsfeed.Store, index: int) -> Path:
    return store.version_path / store.meta["shards"][index]["file"]


# Opening ---------------------------------------------------------------------------------------


def test_open_store_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"is not a tsfeed store.*does not exist"):
        tsfeed.open_store(tmp_path / "nowhere")


def test_open_store_plain_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("a,b\n")

    with pytest.raises(FileNotFoundError, match=r"is not a tsfeed store.*tsfeed\.ingest\(\)"):
        tsfeed.open_store(tmp_path)


def test_open_store_reads_manifest(tmp_path: Path) -> None:
    store = _small_store(tmp_path)

    reopened = tsfeed.open_store(tmp_path / "store")

    assert reopened.series_ids == [f"s{k}" for k in range(6)]
    assert reopened.num_steps.tolist() == [50] * 6
    assert reopened.num_rows == 300
    assert len(store.meta["shards"]) == 6
    assert reopened.series(4).features[:, 0].tolist() == list(range(200, 250))


# Memory: opening maps nothing ------------------------------------------------------------------

_MEASURE_SCRIPT = r"""
import json
import sys

import numpy as np

import tsfeed


def measure():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    io = dict(line.split(":", 1) for line in open("/proc/self/io"))
    return {
        "anon": int(status["RssAnon"].split()[0]) * 1024,
        "rss": int(status["VmRSS"].split()[0]) * 1024,
        "rchar": int(io["rchar"]),
    }


before = measure()
store = tsfeed.open_store(sys.argv[1])
opened = measure()
window = np.array(store.series(7).features[50_000:50_168])
one_window = measure()
total = 0.0
for data in store.iter_series():
    total += float(data.features.sum(dtype=np.float64))
everything = measure()
print(json.dumps({
    "before": before,
    "opened": opened,
    "one_window": one_window,
    "everything": everything,
    "window_first": window[0].tolist(),
    "window_shape": list(window.shape),
}))
"""

BIG_SERIES = 20
BIG_STEPS = 100_000
BIG_FEATURES = 8


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A store of 20 series x 100,000 steps x 8 float32 features (about 88 MB on disk).

    Returns the store path and the features as generated, ``(series * steps, features)``.
    """
    folder = tmp_path_factory.mktemp("big")
    values = np.random.default_rng(0).standard_normal(
        (BIG_SERIES * BIG_STEPS, BIG_FEATURES), dtype=np.float32
    )
    ids = np.repeat(np.array([f"s{k:02d}" for k in range(BIG_SERIES)]), BIG_STEPS)
    columns: dict[str, Any] = {
        "id": pa.array(ids),
        "t": pa.array(np.tile(np.arange(BIG_STEPS, dtype=np.int64), BIG_SERIES)),
    }
    for column in range(BIG_FEATURES):
        columns[f"f{column}"] = pa.array(values[:, column])
    source = _write_table(folder / "input.parquet", columns)
    tsfeed.ingest(
        source,
        folder / "store",
        series_column="id",
        time_column="t",
        target_columns=["f0"],
        shard_bytes=32 * MB,
    )
    source.unlink()
    return folder / "store", values


def test_open_store_maps_no_shard(big_store: tuple[Path, np.ndarray]) -> None:
    store_path, values = big_store
    store_bytes = sum(p.stat().st_size for p in store_path.rglob("*.arrow"))
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE_SCRIPT, str(store_path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    before, opened = report["before"], report["opened"]
    one_window, everything = report["one_window"], report["everything"]

    assert store_bytes > 80 * MB
    assert opened["rchar"] - before["rchar"] < 20 * MB
    assert opened["anon"] - before["anon"] < 20 * MB
    assert opened["rss"] - before["rss"] < 20 * MB
    assert one_window["rss"] - opened["rss"] < 20 * MB
    assert one_window["anon"] - opened["anon"] < 20 * MB
    # Control: touching every row does raise the resident size by about the store's size, so
    # the bounds above measure what they claim to.
    assert everything["rss"] - opened["rss"] > store_bytes // 2
    assert report["window_shape"] == [168, BIG_FEATURES]
    assert report["window_first"] == values[7 * BIG_STEPS + 50_000].tolist()


# Integrity -------------------------------------------------------------------------------------


def test_store_verify_intact_is_empty(tmp_path: Path) -> None:
    store = _small_store(tmp_path)

    assert store.verify() == []


def test_store_verify_flipped_byte_names_shard(tmp_path: Path) -> None:
    store = _small_store(tmp_path)
    damaged = _shard_path(store, 3)
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))

    problems = tsfeed.open_store(tmp_path / "store").verify()

    assert len(problems) == 1
    assert damaged.name in problems[0]
    assert "checksum" in problems[0]


def test_store_truncated_shard_fails_first_read(tmp_path: Path) -> None:
    store = _small_store(tmp_path)
    damaged = _shard_path(store, 0)
    content = damaged.read_bytes()
    damaged.write_bytes(content[: len(content) - 100])

    reopened = tsfeed.open_store(tmp_path / "store")

    with pytest.raises(tsfeed.StoreCorruptError, match=rf"{damaged.name} has \d+ bytes"):
        reopened.series(0)
    assert reopened.series(1).features[:, 0].tolist() == list(range(50, 100))
    assert len(reopened.verify()) == 1


def test_store_missing_shard_fails_first_read(tmp_path: Path) -> None:
    store = _small_store(tmp_path)
    missing = _shard_path(store, 2)
    missing.unlink()

    reopened = tsfeed.open_store(tmp_path / "store")

    with pytest.raises(tsfeed.StoreCorruptError, match=rf"{missing.name} is missing"):
        reopened.series(2)
    assert reopened.verify() == [f"{missing}: missing"]


def test_store_compressed_shard_is_rejected(tmp_path: Path) -> None:
    """A shard rewritten with LZ4 has the right schema but would be decompressed on every read."""
    store = _small_store(tmp_path)
    shard = _shard_path(store, 0)
    with pa.memory_map(str(shard)) as source:
        table = pa.ipc.open_file(source).read_all()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_file(str(shard), table.schema, options=options) as writer:
        writer.write_table(table)
    # Record the new size, so that only the compression can make the read fail.
    meta_path = store.version_path / "store.json"
    meta = json.loads(meta_path.read_text())
    meta["shards"][0]["num_bytes"] = shard.stat().st_size
    meta_path.write_text(json.dumps(meta))

    reopened = tsfeed.open_store(tmp_path / "store")

    with pytest.raises(
        tsfeed.StoreCorruptError,
        match=rf"{shard.name} cannot be memory-mapped without a copy",
    ):
        reopened.series(0)


def test_store_corrupt_error_is_os_error() -> None:
    assert issubclass(tsfeed.StoreCorruptError, OSError)
