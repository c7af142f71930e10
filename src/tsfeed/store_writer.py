"""Writing shards and publishing store versions atomically.

A new version is written into a hidden staging folder and becomes visible through one rename:
the staging folder itself for a new store, or the ``CURRENT`` pointer file for a store that
already exists. A process killed at any point leaves either the old store or the new one, plus a
staging folder that the next write to the same place removes once its owner process is gone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tsfeed import store as store_format
from tsfeed.errors import StoreExistsError

logger = logging.getLogger(__name__)

DEFAULT_SHARD_BYTES = 128 << 20
_STAGING_PREFIX = ".tsfeed-staging-"
_OWNER_FILE = "owner.json"
_OWNERLESS_STALE_SECONDS = 3600

__all__ = ["StagedVersion", "StoreWriter", "stage_version"]


class StoreWriter:
    """Collect series into shards of about ``shard_bytes`` each and write the manifest.

    Args:
        version_path: Empty folder that receives the shards, manifest and ``store.json``.
        num_features: Width of the features column.
        num_targets: Width of the targets column.
        shard_bytes: Size at which the current shard is written and a new one begun.
    """

    def __init__(
        self,
        version_path: Path,
        num_features: int,
        num_targets: int,
        shard_bytes: int = DEFAULT_SHARD_BYTES,
    ) -> None:
        self.version_path = version_path
        self.num_features = num_features
        self.num_targets = num_targets
        self.shard_bytes = shard_bytes
        self._pending: list[tuple[npt.NDArray[np.int64], np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._shards: list[dict[str, Any]] = []
        self._manifest: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def add_series(
        self,
        series_id: str,
        sort_key: tuple[Any, ...],
        times: npt.NDArray[np.int64],
        features: npt.NDArray[np.float32],
        targets: npt.NDArray[np.float32],
        runs: npt.NDArray[np.int64],
        num_missing: int,
    ) -> None:
        """Append one series, rows already sorted by time, to the current shard."""
        self._manifest.append(
            (
                sort_key,
                {
                    "series_id": series_id,
                    "shard": len(self._shards),
                    "row_offset": self._pending_rows,
                    "num_steps": len(times),
                    "first_time": int(times[0]) if len(times) else 0,
                    "last_time": int(times[-1]) if len(times) else 0,
                    "num_missing": num_missing,
                    "runs": runs.reshape(-1).tolist(),
                },
            )
        )
        self._pending.append((times, features, targets))
        self._pending_rows += len(times)
        row_bytes = 8 + 4 * (self.num_features + self.num_targets)
        if self._pending_rows * row_bytes >= self.shard_bytes:
            self._flush()

    def finish(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write the last shard, the manifest sorted by series key, and ``store.json``.

        Returns:
            The metadata written to ``store.json``.
        """
        if self._pending_rows:
            self._flush()
        self._manifest.sort(key=lambda item: item[0])
        rows = [row for _, row in self._manifest]
        manifest = pa.table(
            {
                "series_id": pa.array([row["series_id"] for row in rows], pa.string()),
                "shard": pa.array([row["shard"] for row in rows], pa.int32()),
                "row_offset": pa.array([row["row_offset"] for row in rows], pa.int64()),
                "num_steps": pa.array([row["num_steps"] for row in rows], pa.int64()),
                "first_time": pa.array([row["first_time"] for row in rows], pa.int64()),
                "last_time": pa.array([row["last_time"] for row in rows], pa.int64()),
                "num_missing": pa.array([row["num_missing"] for row in rows], pa.int64()),
                "runs": pa.array([row["runs"] for row in rows], pa.list_(pa.int64())),
                # The original id values, so that a later append sorts old and new series alike.
                **{
                    f"key_{i}": pa.array([key[i] for key, _ in self._manifest])
                    for i in range(len(self._manifest[0][0]) if self._manifest else 0)
                },
            }
        )
        with pa.ipc.new_file(
            self.version_path / store_format.MANIFEST_FILE, manifest.schema
        ) as out:
            out.write_table(manifest)
        full_meta = {
            "format": store_format.FORMAT_NAME,
            "format_version": store_format.FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "num_series": len(rows),
            "num_rows": int(sum(row["num_steps"] for row in rows)),
            "shards": self._shards,
            **meta,
        }
        (self.version_path / store_format.META_FILE).write_text(json.dumps(full_meta, indent=1))
        return full_meta

    def _flush(self) -> None:
        name = f"shard-{len(self._shards):05d}.arrow"
        path = self.version_path / name
        times = np.concatenate([part[0] for part in self._pending])
        features = np.concatenate([part[1] for part in self._pending]).astype(
            np.float32, copy=False
        )
        targets = np.concatenate([part[2] for part in self._pending]).astype(np.float32, copy=False)
        self._pending.clear()
        batch = pa.record_batch(
            {
                "time": pa.array(times, pa.int64()),
                "features": _fixed_list(features, self.num_features),
                "targets": _fixed_list(targets, self.num_targets),
            }
        )
        options = pa.ipc.IpcWriteOptions(compression=None)
        with (
            pa.OSFile(str(path), "wb") as sink,
            pa.ipc.new_file(sink, batch.schema, options=options) as out,
        ):
            out.write_batch(batch)
        self._shards.append(
            {
                "file": name,
                "num_rows": batch.num_rows,
                "num_bytes": path.stat().st_size,
                "sha256": store_format.file_sha256(path),
            }
        )
        logger.debug("wrote %s: %d rows", path, batch.num_rows)
        self._pending_rows = 0


def _fixed_list(values: np.ndarray, width: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, width)


class StagedVersion:
    """A store version being written, published by :meth:`publish` or dropped by :meth:`discard`.

    Attributes:
        version_path: Folder that receives the shards, manifest and metadata.
    """

    def __init__(
        self,
        store_path: Path,
        staging_root: Path,
        version_path: Path,
        final_name: str,
        is_new: bool,
    ) -> None:
        self.store_path = store_path
        self.staging_root = staging_root
        self.version_path = version_path
        self.final_name = final_name
        self._is_new = is_new

    def publish(self) -> None:
        """Make the staged version the store's current version, atomically."""
        _fsync_tree(self.version_path)
        if self._is_new:
            (self.staging_root / store_format.CURRENT_FILE).write_text(self.final_name + "\n")
            (self.staging_root / _OWNER_FILE).unlink()
            _fsync_path(self.staging_root)
            if self.store_path.is_dir():
                self.store_path.rmdir()  # an empty folder; the rename takes its place
            os.rename(self.staging_root, self.store_path)
            _fsync_path(self.store_path.parent)
            return
        (self.version_path / _OWNER_FILE).unlink()
        final = self.store_path / self.final_name
        os.rename(self.version_path, final)
        pointer_tmp = self.store_path / f"{store_format.CURRENT_FILE}.{uuid.uuid4().hex}.tmp"
        pointer_tmp.write_text(final.name + "\n")
        _fsync_path(pointer_tmp)
        os.replace(pointer_tmp, self.store_path / store_format.CURRENT_FILE)
        _fsync_path(self.store_path)
        _remove_old_versions(self.store_path, keep={final.name})

    def discard(self) -> None:
        """Remove everything staged; the store is left as it was."""
        target = self.staging_root if self._is_new else self.version_path
        shutil.rmtree(target, ignore_errors=True)


def stage_version(store_path: Path, *, overwrite: bool) -> StagedVersion:
    """Create the staging folder for a new version of ``store_path``.

    Raises:
        StoreExistsError: If ``store_path`` contains a store and ``overwrite`` is false, or contains
            files that are not a store.
    """
    store_path = store_path.absolute()
    _remove_stale_staging(store_path.parent)
    pointer = store_path / store_format.CURRENT_FILE
    if pointer.is_file():
        if not overwrite:
            raise StoreExistsError(
                f"{store_path} already contains a tsfeed store. Pass overwrite=True (--overwrite) "
                "to replace it, or choose another folder."
            )
        _remove_stale_staging(store_path)
        current = pointer.read_text().strip()
        number = int(current.lstrip("v") or 0) + 1 if current.startswith("v") else 1
        version_path = _make_staging_folder(store_path, f"v{number:06d}")
        return StagedVersion(store_path, store_path, version_path, f"v{number:06d}", is_new=False)
    if store_path.exists() and (not store_path.is_dir() or any(store_path.iterdir())):
        raise StoreExistsError(
            f"{store_path} exists and is not an empty folder or a tsfeed store. Choose a new "
            "folder for the store."
        )
    store_path.parent.mkdir(parents=True, exist_ok=True)
    staging_root = _make_staging_folder(store_path.parent, store_path.name)
    version_path = staging_root / "v000001"
    version_path.mkdir()
    return StagedVersion(store_path, staging_root, version_path, "v000001", is_new=True)


def _make_staging_folder(parent: Path, name: str) -> Path:
    # The owner file lets a later writer tell a staging folder of a killed process from one
    # that another live process is still writing.
    folder = parent / f"{_STAGING_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    owner = {"host": socket.gethostname(), "pid": os.getpid()}
    (folder / _OWNER_FILE).write_text(json.dumps(owner))
    return folder


def _remove_stale_staging(folder: Path) -> None:
    """Remove staging folders left behind by writers that died on this machine."""
    if not folder.is_dir():
        return
    for entry in folder.glob(f"{_STAGING_PREFIX}*"):
        if _is_stale(entry):
            logger.warning("removing staging folder %s of a writer that stopped", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _is_stale(entry: Path) -> bool:
    try:
        owner = json.loads((entry / _OWNER_FILE).read_text())
    except (OSError, ValueError):
        # No readable owner file: a folder being created this instant, or a damaged one.
        # Only the latter is old.
        return time.time() - entry.stat().st_mtime > _OWNERLESS_STALE_SECONDS
    if owner.get("host") != socket.gethostname():
        # NOTE: on a shared filesystem, a writer on another machine cannot be checked; its
        # folders are kept.
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, ValueError, TypeError):
        return False
    return False


def _remove_old_versions(store_path: Path, keep: set[str]) -> None:
    # Keep the newest two versions, so that a reader that opened the previous version a moment
    # ago can still map its shards.
    versions = sorted(p.name for p in store_path.glob("v[0-9]*") if p.is_dir())
    for name in versions[:-2]:
        if name not in keep:
            shutil.rmtree(store_path / name, ignore_errors=True)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for entry in folder.iterdir():
        _fsync_path(entry)
    _fsync_path(folder)
