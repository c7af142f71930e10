"""Copying a batch of windows out of the memory-mapped shards with NumPy.

A shard's features are viewed as a strided array of shape ``(rows - span + 1,
sequence_length, num_features)`` whose element ``g`` is the window starting at shard row ``g``.
No data moves to build that view; one fancy-indexing copy per shard then writes the batch. With
``sampling_rate`` 1 each window is one contiguous block of the file.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tsfeed.store import Store
from tsfeed.windows import WindowIndex

__all__ = ["WindowGather"]

FloatArray = npt.NDArray[np.float32]


class WindowGather:
    """Build batches of ``(inputs, targets)`` for ranks of a window index.

    Args:
        store: The open store.
        index: Windows of one side of the split.
    """

    def __init__(self, store: Store, index: WindowIndex) -> None:
        self.store = store
        self.index = index
        self.spec = index.spec
        self.num_features = len(store.feature_columns)
        self.num_targets = len(store.target_columns)
        self._views: dict[int, tuple[FloatArray, FloatArray]] = {}

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
        rows = self.store.row_offset[series] + starts
        count = len(rows)
        inputs = np.empty((count, self.spec.sequence_length, self.num_features), np.float32)
        targets = np.empty((count, self.spec.target_width, self.num_targets), np.float32)
        target_grid = self.spec.target_offset + np.arange(self.spec.target_width)
        for shard in np.unique(shard_of):
            windows, shard_targets = self._shard_views(int(shard))
            chosen = slice(None) if len(np.unique(shard_of)) == 1 else shard_of == shard
            shard_rows = rows[chosen]
            inputs[chosen] = windows[shard_rows]
            targets[chosen] = shard_targets[shard_rows[:, None] + target_grid]
        if self.spec.target_width == 1:
            return inputs, targets[:, 0, :]
        return inputs, targets

    def _shard_views(self, shard: int) -> tuple[FloatArray, FloatArray]:
        if shard not in self._views:
            data = self.store.shard(shard)
            features = data.features
            num_starts = max(features.shape[0] - self.spec.span + 1, 0)
            row_stride, column_stride = features.strides
            windows = np.lib.stride_tricks.as_strided(
                features,
                shape=(num_starts, self.spec.sequence_length, self.num_features),
                strides=(row_stride, row_stride * self.spec.sampling_rate, column_stride),
                writeable=False,
            )
            self._views[shard] = (windows, data.targets)
        return self._views[shard]
