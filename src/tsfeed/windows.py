"""Window and target rules: which rows form a window, and which row is its target.

This module is the single place where these rules live. It is plain NumPy, so it imports fast and
the rules can be tested without TensorFlow.

The rule, for a window that starts at step ``i`` of a series, with ``L = sequence_length``,
``r = sampling_rate``, ``h = horizon`` and ``w = target_width``:

* its input steps are ``i, i + r, ..., i + (L - 1) * r``, as in
  ``keras.utils.timeseries_dataset_from_array``;
* its target steps are ``i + (L - 1) * r + h + j`` for ``j`` in ``0 .. w - 1``, so ``h = 1`` is the
  step after the last input step and ``h = 0`` is the last input step itself;
* starts advance by ``sequence_stride`` from step 0 of each series: ``i = 0, s, 2s, ...``;
* a window exists only when every input and target step lies inside one run of usable steps of
  one series (a run ends at a series' end, at a gap in time and at a missing value).

Worked example: 10 steps with values 0..9, ``L=3, sequence_stride=2, sampling_rate=2, h=1``.
A window spans ``(3 - 1) * 2 + 1 = 5`` steps and needs ``5 - 1 + 1 + 1 = 6`` rows with its target,
so starts 0, 2 and 4 fit (4 + 6 = 10 rows) and start 6 does not. The windows are
``[0, 2, 4] -> 5``, ``[2, 4, 6] -> 7`` and ``[4, 6, 8] -> 9``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["WindowIndex", "WindowSpec", "count_windows_in_runs"]

IntArray = npt.NDArray[np.int64]


@dataclasses.dataclass(frozen=True)
class WindowSpec:
    """Shape of the windows and the position of their targets.

    Args:
        sequence_length: Input steps per window (not its span).
        sequence_stride: Steps between the starts of consecutive windows of a series.
        sampling_rate: Steps between consecutive input steps inside a window.
        horizon: Steps from the last input step to the first target step. 0 means the last input
            step, 1 the next step.
        target_width: Consecutive target steps per window. With 1, targets have shape
            ``(batch, num_targets)``; with more, ``(batch, target_width, num_targets)``.

    Raises:
        ValueError: If a length, stride, rate or width is below 1, or the horizon is negative.
        TypeError: If an argument is not an integer.

    Example:
        >>> spec = WindowSpec(sequence_length=3, sequence_stride=2, sampling_rate=2, horizon=1)
        >>> spec.num_windows(10)
        3
        >>> spec.input_steps(4).tolist(), spec.target_steps(4).tolist()
        ([4, 6, 8], [9])
    """

    sequence_length: int
    sequence_stride: int = 1
    sampling_rate: int = 1
    horizon: int = 1
    target_width: int = 1

    def __post_init__(self) -> None:
        minimums = {
            "sequence_length": 1,
            "sequence_stride": 1,
            "sampling_rate": 1,
            "horizon": 0,
            "target_width": 1,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(
                    f"{name} must be an integer, got {value!r} ({type(value).__name__})."
                )
            if value < minimum:
                raise ValueError(f"{name} must be at least {minimum}, got {value}.")
            object.__setattr__(self, name, int(value))

    @property
    def span(self) -> int:
        """Steps from the first to the last input step of a window, both included."""
        return (self.sequence_length - 1) * self.sampling_rate + 1

    @property
    def target_offset(self) -> int:
        """Steps from a window's start to its first target step."""
        return (self.sequence_length - 1) * self.sampling_rate + self.horizon

    @property
    def rows_needed(self) -> int:
        """Consecutive usable steps one window needs, inputs and targets included."""
        return self.target_offset + self.target_width

    def num_windows(self, num_steps: int) -> int:
        """Count the windows of a series of ``num_steps`` usable steps."""
        if num_steps < self.rows_needed:
            return 0
        return (num_steps - self.rows_needed) // self.sequence_stride + 1

    def input_steps(self, start: int) -> IntArray:
        """List the input steps of the window that starts at ``start``."""
        return start + np.arange(self.sequence_length, dtype=np.int64) * self.sampling_rate

    def target_steps(self, start: int) -> IntArray:
        """List the target steps of the window that starts at ``start``."""
        return start + self.target_offset + np.arange(self.target_width, dtype=np.int64)


def _ceil_to_multiple(values: IntArray, step: int) -> IntArray:
    return -(-values // step) * step


def count_windows_in_runs(
    spec: WindowSpec,
    begin: IntArray,
    end: IntArray,
    min_target_step: IntArray | None = None,
    end_of_targets: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Find the first start and the window count of each run of usable steps.

    A run is the half-open step range ``[begin, end)`` of one series. A window qualifies when all
    its steps lie in the run, its start is a multiple of ``sequence_stride``, its first target
    step is at or after ``min_target_step`` and its last target step is before
    ``end_of_targets``. Validation uses the first bound and training the second, so that no
    target falls on both sides of a cutoff.

    Args:
        spec: The window rule.
        begin: First usable step of each run.
        end: One past the last usable step of each run.
        min_target_step: Lowest allowed first target step per run, or None for no bound.
        end_of_targets: Exclusive upper bound of every step of the window per run, or None.

    Returns:
        ``(first_start, count)`` arrays: the windows of run ``k`` start at
        ``first_start[k] + j * sequence_stride`` for ``j`` in ``range(count[k])``.
    """
    begin = np.asarray(begin, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    lowest = begin.copy()
    if min_target_step is not None:
        lowest = np.maximum(lowest, np.asarray(min_target_step, np.int64) - spec.target_offset)
    limit = end
    if end_of_targets is not None:
        limit = np.minimum(limit, np.asarray(end_of_targets, dtype=np.int64))
    highest = limit - spec.rows_needed

    first_start = _ceil_to_multiple(lowest, spec.sequence_stride)
    count = np.where(highest >= first_start, (highest - first_start) // spec.sequence_stride + 1, 0)
    return first_start, count.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class WindowIndex:
    """Every window of one dataset side, as runs of evenly spaced starts.

    Memory grows with the number of runs (about one per series), never with the number of
    windows. Window ``k`` in the canonical order (series in store order, then start ascending)
    is found with :meth:`locate`.

    Attributes:
        spec: The window rule.
        run_series: Series position in the store of each run.
        run_first_start: First window start of each run.
        run_count: Windows in each run, all positive.
    """

    spec: WindowSpec
    run_series: IntArray
    run_first_start: IntArray
    run_count: IntArray

    @classmethod
    def from_runs(
        cls,
        spec: WindowSpec,
        run_series: IntArray,
        first_start: IntArray,
        count: IntArray,
    ) -> WindowIndex:
        """Build an index, dropping runs without windows."""
        keep = np.asarray(count) > 0
        return cls(
            spec=spec,
            run_series=np.asarray(run_series, dtype=np.int64)[keep],
            run_first_start=np.asarray(first_start, dtype=np.int64)[keep],
            run_count=np.asarray(count, dtype=np.int64)[keep],
        )

    @property
    def num_windows(self) -> int:
        """Windows in this index."""
        return int(self.run_count.sum())

    @property
    def run_end_rank(self) -> IntArray:
        """Exclusive end of each run's ranks in the canonical order."""
        return np.cumsum(self.run_count)

    def locate(self, ranks: npt.ArrayLike) -> tuple[IntArray, IntArray]:
        """Map ranks in the canonical order to ``(series position, start step)`` pairs.

        Raises:
            IndexError: If a rank is negative or not below :attr:`num_windows`.
        """
        ranks = np.asarray(ranks, dtype=np.int64)
        ends = self.run_end_rank
        total = int(ends[-1]) if len(ends) else 0
        if ranks.size and (ranks.min() < 0 or ranks.max() >= total):
            raise IndexError(
                f"window ranks must lie in [0, {total}), got {ranks.min()}..{ranks.max()}."
            )
        run = np.searchsorted(ends, ranks, side="right")
        within = ranks - (ends[run] - self.run_count[run])
        starts = self.run_first_start[run] + within * self.spec.sequence_stride
        return self.run_series[run], starts

    def windows_per_series(self, num_series: int) -> IntArray:
        """Count the windows of each series position."""
        return np.bincount(self.run_series, weights=self.run_count, minlength=num_series).astype(
            np.int64
        )

    def starts_of_series(self, series: int) -> IntArray:
        """List every window start of one series, ascending."""
        parts: Sequence[IntArray] = [
            first + np.arange(count, dtype=np.int64) * self.spec.sequence_stride
            for first, count in zip(
                self.run_first_start[self.run_series == series],
                self.run_count[self.run_series == series],
                strict=True,
            )
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
