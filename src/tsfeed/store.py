"""The store: shards of memory-mapped series plus a manifest, read without copying.

Layout of a store folder::

    STORE/
      CURRENT              name of the published version folder, replaced atomically
      v000001/
        store.json         columns, dtypes, time axis, shard sizes and checksums
        manifest.arrow     one row per series: id, shard, row offset, steps, time range, runs
        shard-00000.arrow  Arrow IPC file, uncompressed, one record batch of many series

Each shard has three columns: ``time`` (int64), ``features`` and ``targets`` (fixed-size lists of
float32). The rows of one series are contiguous and in time order, so a series is a row-major
``(steps, features)`` NumPy view into the memory map. Opening a store reads ``store.json`` and the
manifest only; a shard is mapped the first time one of its series is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tsfeed.errors import StoreCorruptError

logger = logging.getLogger(__name__)

FORMAT_NAME = "tsfeed-store"
FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
META_FILE = "store.json"
MANIFEST_FILE = "manifest.arrow"

__all__ = ["SeriesData", "Store", "open_store"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


@dataclasses.dataclass(frozen=True)
class SeriesData:
    """Read-only views of one series' rows, all of length ``num_steps``.

    Attributes:
        series_id: The series' id as stored in the manifest.
        times: Timestamps as int64 (nanoseconds since the epoch for datetime time columns).
        features: ``(num_steps, num_features)`` float32 view into the shard.
        targets: ``(num_steps, num_targets)`` float32 view into the shard.
    """

    series_id: str
    times: IntArray
    features: FloatArray
    targets: FloatArray


@dataclasses.dataclass
class _Shard:
    times: IntArray
    features: FloatArray
    targets: FloatArray


class Store:
    """A published version of a store folder, opened read-only.

    Use :func:`open_store` to create one. The manifest columns are NumPy arrays indexed by series
    position, the order of series ids as the ingest sorted them.
    """

    def __init__(self, path: Path, version_path: Path, meta: dict[str, Any], manifest: pa.Table):
        self.path = path
        self.version_path = version_path
        self.meta = meta
        self.series_ids: list[str] = manifest.column("series_id").to_pylist()
        self.shard_of: IntArray = manifest.column("shard").to_numpy().astype(np.int64)
        self.row_offset: IntArray = manifest.column("row_offset").to_numpy().astype(np.int64)
        self.num_steps: IntArray = manifest.column("num_steps").to_numpy().astype(np.int64)
        self.first_time: IntArray = manifest.column("first_time").to_numpy().astype(np.int64)
        self.last_time: IntArray = manifest.column("last_time").to_numpy().astype(np.int64)
        self.num_missing: IntArray = manifest.column("num_missing").to_numpy().astype(np.int64)
        runs = manifest.column("runs").combine_chunks()
        self._run_offsets: IntArray = runs.offsets.to_numpy().astype(np.int64) // 2
        self._run_bounds: IntArray = runs.flatten().to_numpy().astype(np.int64).reshape(-1, 2)
        self._shards: dict[int, _Shard] = {}
        self._manifest = manifest
        self._position = {series_id: i for i, series_id in enumerate(self.series_ids)}

    # Metadata -------------------------------------------------------------------------------

    @property
    def num_series(self) -> int:
        """Series in the store."""
        return len(self.series_ids)

    @property
    def num_rows(self) -> int:
        """Rows (steps) over all series."""
        return int(self.num_steps.sum())

    @property
    def feature_columns(self) -> list[str]:
        """Names of the feature columns, in the order of the last axis of the inputs."""
        return list(self.meta["feature_columns"])

    @property
    def target_columns(self) -> list[str]:
        """Names of the target columns, in the order of the last axis of the targets."""
        return list(self.meta["target_columns"])

    @property
    def time_zone(self) -> str | None:
        """Time zone of a timezone-aware time column, None for naive or integer time."""
        zone = self.meta.get("time_zone")
        return str(zone) if zone is not None else None

    @property
    def time_kind(self) -> str:
        """``"datetime"`` when times are nanoseconds since the epoch, ``"integer"`` otherwise."""
        return str(self.meta["time_kind"])

    def position_of(self, series_id: str) -> int:
        """Return the position of a series id.

        Raises:
            KeyError: If the store has no such series.
        """
        try:
            return self._position[series_id]
        except KeyError:
            raise KeyError(f"series_id={series_id!r} is not in the store at {self.path}.") from None

    def series_keys(self) -> list[pa.Array]:
        """Return the original id columns of the series, one array per id column."""
        names = [f"key_{i}" for i in range(len(self.meta.get("series_columns", [])))]
        return [self._manifest.column(name).combine_chunks() for name in names]

    def runs(self, position: int) -> IntArray:
        """Return the ``(begin, end)`` step ranges of one series that windows may use."""
        return self._run_bounds[self._run_offsets[position] : self._run_offsets[position + 1]]

    def run_table(self) -> tuple[IntArray, IntArray, IntArray]:
        """Return ``(series position, begin, end)`` of every run, in series order."""
        counts = np.diff(self._run_offsets)
        series = np.repeat(np.arange(self.num_series, dtype=np.int64), counts)
        return series, self._run_bounds[:, 0].copy(), self._run_bounds[:, 1].copy()

    # Data -----------------------------------------------------------------------------------

    def series(self, position: int) -> SeriesData:
        """Return views of the rows of the series at ``position``."""
        shard = self.shard(int(self.shard_of[position]))
        begin = int(self.row_offset[position])
        end = begin + int(self.num_steps[position])
        return SeriesData(
            series_id=self.series_ids[position],
            times=shard.times[begin:end],
            features=shard.features[begin:end],
            targets=shard.targets[begin:end],
        )

    def iter_series(self) -> Iterator[SeriesData]:
        """Yield every series in store order."""
        for position in range(self.num_series):
            yield self.series(position)

    def shard(self, index: int) -> _Shard:
        """Map shard ``index`` on first use and return its column views."""
        if index not in self._shards:
            self._shards[index] = self._map_shard(index)
        return self._shards[index]

    def _map_shard(self, index: int) -> _Shard:
        entry = self.meta["shards"][index]
        path = self._checked_shard_path(entry)
        allocated_before = pa.total_allocated_bytes()
        try:
            reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
            batch = reader.get_batch(0) if reader.num_record_batches == 1 else None
        except (pa.ArrowInvalid, OSError) as err:
            raise StoreCorruptError(
                f"shard {path} is not a readable Arrow IPC file: {err}"
            ) from err
        if batch is None or batch.num_rows != entry["num_rows"]:
            raise StoreCorruptError(
                f"shard {path} does not hold one record batch of {entry['num_rows']} rows."
            )
        if pa.total_allocated_bytes() > allocated_before:
            # Compressed IPC buffers are decompressed into fresh memory on every read, which
            # defeats memory mapping, so such a shard is rejected.
            raise StoreCorruptError(
                f"shard {path} cannot be memory-mapped without a copy (compressed or not "
                "aligned). Re-ingest it with tsfeed, which writes uncompressed shards."
            )
        num_features = len(self.meta["feature_columns"])
        num_targets = len(self.meta["target_columns"])
        logger.debug("mapped shard %s (%d rows)", path, batch.num_rows)
        return _Shard(
            times=batch.column("time").to_numpy(zero_copy_only=True),
            features=_list_view(batch.column("features"), num_features),
            targets=_list_view(batch.column("targets"), num_targets),
        )

    # Integrity ------------------------------------------------------------------------------

    def check_shard_sizes(self) -> None:
        """Check that every shard exists with its recorded size, without reading it.

        Raises:
            StoreCorruptError: Naming the first missing or resized shard.
        """
        for entry in self.meta["shards"]:
            self._checked_shard_path(entry)

    def _checked_shard_path(self, entry: dict[str, Any]) -> Path:
        path: Path = self.version_path / str(entry["file"])
        if not path.exists():
            raise StoreCorruptError(f"shard {path} is missing. Re-ingest the source data.")
        size = path.stat().st_size
        if size != entry["num_bytes"]:
            raise StoreCorruptError(
                f"shard {path} has {size} bytes but the manifest records {entry['num_bytes']}: "
                "the file is truncated or was replaced. Run `tsfeed verify` and re-ingest."
            )
        return path

    def verify(self) -> list[str]:
        """Check the size and SHA-256 checksum of every shard against the manifest.

        Returns:
            One message per damaged shard; an empty list when all shards are intact.
        """
        problems = []
        for entry in self.meta["shards"]:
            path = self.version_path / entry["file"]
            if not path.exists():
                problems.append(f"{path}: missing")
                continue
            size = path.stat().st_size
            if size != entry["num_bytes"]:
                problems.append(f"{path}: {size} bytes, expected {entry['num_bytes']}")
                continue
            digest = file_sha256(path)
            if digest != entry["sha256"]:
                problems.append(
                    f"{path}: checksum {digest[:12]}..., expected {entry['sha256'][:12]}..."
                )
        return problems

    def __repr__(self) -> str:
        return (
            f"Store({str(self.path)!r}, num_series={self.num_series}, num_rows={self.num_rows}, "
            f"features={self.feature_columns}, targets={self.target_columns})"
        )


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open the published version of a store without reading its shards.

    Args:
        path: The store folder that :func:`tsfeed.ingest` wrote.

    Returns:
        The opened store.

    Raises:
        FileNotFoundError: If the folder or its version pointer does not exist.
        StoreCorruptError: If the metadata or manifest cannot be read or does not match.
    """
    root = Path(path)
    pointer = root / CURRENT_FILE
    if not pointer.is_file():
        hint = "" if root.exists() else " The folder does not exist."
        raise FileNotFoundError(
            f"{root} is not a tsfeed store (no {CURRENT_FILE} file).{hint} "
            "Create one with tsfeed.ingest() or `tsfeed ingest`."
        )
    version_path = root / pointer.read_text().strip()
    try:
        meta = json.loads((version_path / META_FILE).read_text())
        manifest = pa.ipc.open_file(pa.memory_map(str(version_path / MANIFEST_FILE))).read_all()
    except (OSError, ValueError, pa.ArrowInvalid) as err:
        raise StoreCorruptError(f"cannot read the metadata of store {version_path}: {err}") from err
    if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        raise StoreCorruptError(
            f"{version_path} has format {meta.get('format')!r} version "
            f"{meta.get('format_version')!r}; this tsfeed reads {FORMAT_NAME!r} version "
            f"{FORMAT_VERSION}."
        )
    if manifest.num_rows != meta["num_series"]:
        raise StoreCorruptError(
            f"manifest of {version_path} lists {manifest.num_rows} series, store.json "
            f"{meta['num_series']}."
        )
    store = Store(root, version_path, meta, manifest)
    logger.info("opened store %s: %d series, %d rows", root, store.num_series, store.num_rows)
    return store


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 digest of a file, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _list_view(column: pa.Array, width: int) -> FloatArray:
    if column.offset != 0:
        raise StoreCorruptError("a shard column starts at a non-zero offset.")
    values: FloatArray = column.values.to_numpy(zero_copy_only=True)
    return values[: len(column) * width].reshape(len(column), width)
