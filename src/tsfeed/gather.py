"""Copying a batch of windows out of the memory-mapped shards with NumPy.

The rows of a batch are the window starts plus an offset grid ``0, r, 2r, ...``; one
``numpy.take`` per shard copies those rows from the memory map straight into the batch array.
The batch arrays are aligned to 64 bytes, because TensorFlow then adopts them as tensors
without another copy when they leave ``tf.numpy_function``.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import numpy.typing as npt

from tsfeed.store import Store
from tsfeed.windows import WindowIndex

__all__ = ["WindowGather", "aligned_empty"]

FloatArray = npt.NDArray[np.float32]


class WindowGather:
    """Build batches of ``(inputs, targets)`` for ranks of a window index.

    Args:
        store: The open store.
        index: Windows of one side of the split.
        group_by_shard: Reorder each batch so that windows of one shard are adjacent, which lets
            every shard's copy go straight into the batch. Use it only where the order inside a
            batch carries no meaning, as in a shuffled epoch; the result is still deterministic.
    """

    def __init__(self, store: Store, index: WindowIndex, group_by_shard: bool = False) -> None:
        self.store = store
        self.index = index
        self.group_by_shard = group_by_shard
        self.spec = index.spec
        self.num_features = len(store.feature_columns)
        self.num_targets = len(store.target_columns)
        self._buffers = BufferPool()
        self._input_grid = np.arange(self.spec.sequence_length) * self.spec.sampling_rate
        self._target_grid = self.spec.target_offset + np.arange(self.spec.target_width)

    @property
    def target_shape(self) -> tuple[int, ...]:
        """Shape of one window's targets."""
        if self.spec.target_width == 1:
            return (self.num_targets,)
        return (self.spec.target_width, self.num_targets)

    def load(self, ranks: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Copy the windows with the given ranks into new arrays.

        Returns:
            ``inputs`` of shape ``(len(ranks), sequence_length, num_features)`` and ``targets``
            of shape ``(len(ranks),) + target_shape``, both float32.
        """
        series, starts = self.index.locate(ranks)
        shard_of = self.store.shard_of[series]
        starts = self.store.row_offset[series] + starts
        if self.group_by_shard:
            order = np.argsort(shard_of, kind="stable")
            shard_of, starts = shard_of[order], starts[order]
        count = len(starts)
        spec = self.spec
        inputs = self._buffers.take((count * spec.sequence_length, self.num_features))
        targets = self._buffers.take((count * spec.target_width, self.num_targets))
        shards = np.unique(shard_of)
        if len(shards) == 1 or self.group_by_shard:
            # Windows of one shard form one contiguous block of the batch.
            bounds = [*np.searchsorted(shard_of, shards, side="left").tolist(), count]
            for shard, begin, end in zip(shards, bounds[:-1], bounds[1:], strict=True):
                self._take_block(int(shard), starts[begin:end], inputs, targets, begin, end)
        else:
            inputs_3d = inputs.reshape(count, spec.sequence_length, self.num_features)
            targets_3d = targets.reshape(count, spec.target_width, self.num_targets)
            for shard in shards:
                data = self.store.shard(int(shard))
                chosen = np.flatnonzero(shard_of == shard)
                shard_starts = starts[chosen][:, None]
                rows = (shard_starts + self._input_grid).reshape(-1)
                inputs_3d[chosen] = np.take(data.features, rows, axis=0).reshape(
                    len(chosen), spec.sequence_length, self.num_features
                )
                rows = (shard_starts + self._target_grid).reshape(-1)
                targets_3d[chosen] = np.take(data.targets, rows, axis=0).reshape(
                    len(chosen), spec.target_width, self.num_targets
                )
        inputs_3d = inputs.reshape(count, spec.sequence_length, self.num_features)
        if spec.target_width == 1:
            return inputs_3d, targets
        return inputs_3d, targets.reshape(count, spec.target_width, self.num_targets)

    def _take_block(
        self,
        shard: int,
        starts: npt.NDArray[np.int64],
        inputs: FloatArray,
        targets: FloatArray,
        begin: int,
        end: int,
    ) -> None:
        data = self.store.shard(shard)
        length, width = self.spec.sequence_length, self.spec.target_width
        input_rows = (starts[:, None] + self._input_grid).reshape(-1)
        target_rows = (starts[:, None] + self._target_grid).reshape(-1)
        # mode="clip" lets take write straight into the output; the rows are in range.
        np.take(
            data.features,
            input_rows,
            axis=0,
            out=inputs[begin * length : end * length],
            mode="clip",
        )
        np.take(
            data.targets, target_rows, axis=0, out=targets[begin * width : end * width], mode="clip"
        )


class BufferPool:
    """Recycle batch arrays once nothing refers to them any more.

    Writing into freshly allocated memory costs a page fault per 4 KiB, which was about as
    expensive as the copy itself for 256 windows of 168 x 17 floats (measured on a 2-core VM).
    TensorFlow keeps a reference to each array it adopts as a tensor, so an array whose only
    references are the pool's is free to reuse.

    Args:
        max_buffers: Arrays kept per shape; more are allocated, and dropped after use.
    """

    def __init__(self, max_buffers: int = 32) -> None:
        self.max_buffers = max_buffers
        self._free: dict[tuple[int, int], list[FloatArray]] = {}
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, int]) -> FloatArray:
        """Return an aligned, uninitialized array of ``shape`` that no one else uses."""
        with self._lock:
            pool = self._free.setdefault(shape, [])
            for array in pool:
                # One reference from the pool list, one from getrefcount's argument, and one
                # from the loop variable: any more means a batch still uses the array.
                if sys.getrefcount(array.base) <= 2 and sys.getrefcount(array) <= 3:
                    return array
            array = aligned_empty(shape)
            if len(pool) < self.max_buffers:
                pool.append(array)
            return array


def aligned_empty(shape: tuple[int, int], alignment: int = 64) -> FloatArray:
    """Allocate an uninitialized float32 array whose data starts on an ``alignment`` boundary."""
    size = shape[0] * shape[1]
    raw = np.empty(size + alignment // 4, dtype=np.float32)
    skip = (-raw.ctypes.data % alignment) // 4
    return raw[skip : skip + size].reshape(shape)
